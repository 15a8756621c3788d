"""Retention (reliability.md R-PII-1, R-PII-2): recordings are deleted once their call
finished (or, while recording links are served, ``linked_recording_days`` later, so the
links play until then), transcripts some days later, and every deletion leaves an audit
row.

Files are deleted before they are marked: a crash in between leaves a recording marked
as present whose file is gone, and the next purge marks it (a missing file counts as
deleted).  The other order could leave a file on disk that the database says is gone,
which nobody would ever look for again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from callscribe.config.settings import Settings
from callscribe.domain import Recording
from callscribe.errors import CallscribeError
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.codec import utc_now

log = logging.getLogger(__name__)

BATCH = 200
INTERVAL_SECONDS = 60.0
RECORDING_REASON = "recording retention: call finished"
# What the fetcher leaves in a call's folder: the recording and, after a crash, its
# half-written temp file.  Anything else was put there by someone else and stays.
OWN_PREFIXES = ("recording-", ".callscribe-")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    recordings: int = 0  # recordings marked purged (files deleted or already gone)
    outside: int = 0  # of those, paths outside recordings_dir: marked, file left alone
    failed: int = 0  # files that could not be deleted: tried again next time
    transcripts: int = 0


async def purge(
    store: AsyncStoreApi, settings: Settings, *, now: datetime | None = None
) -> PurgeResult:
    """Delete the recording files of finished calls and transcripts past retention."""
    retention = settings.retention
    now = now or utc_now()
    recordings = outside = failed = transcripts = 0
    if not retention.keep_recordings:
        days = retention.linked_recording_days if settings.daemon.public_url else 0.0
        finished_before = now - timedelta(days=days) if days else None
        reason = RECORDING_REASON
        if days:
            reason += f"; delivered calls' kept {days:g} days for recording links"
        recordings, outside, failed = await _purge_recordings(
            store, settings.daemon.recordings_dir, finished_before, reason
        )
        if recordings or failed:
            log.info(
                "retention: deleted the recordings of %d finished call(s) "
                "(%d outside the recordings folder left alone, %d could not be deleted)",
                recordings, outside, failed,
            )  # fmt: skip
    if retention.transcript_days is not None:
        cutoff = now - timedelta(days=retention.transcript_days)
        reason = f"transcript retention: {retention.transcript_days} days after the call"
        transcripts = await store.purge_transcripts(cutoff, reason)
        if transcripts:
            log.info(
                "retention: deleted %d transcript(s) of calls finished over %d days ago",
                transcripts, retention.transcript_days,
            )  # fmt: skip
    return PurgeResult(recordings, outside, failed, transcripts)


async def _purge_recordings(
    store: AsyncStoreApi, root: Path, finished_before: datetime | None, reason: str
) -> tuple[int, int, int]:
    marked = outside = 0
    failed: set[int] = set()
    while True:
        # Undeletable files stay unmarked and come back first: ask for enough to get past.
        batch = [
            r for r in await store.recordings_to_purge(BATCH + len(failed), finished_before)
            if r.call_id not in failed
        ]  # fmt: skip
        if not batch:
            break
        outcomes = await asyncio.to_thread(_delete_files, root, batch)
        done = [call_id for call_id, outcome in outcomes.items() if outcome != "failed"]
        failed.update(call_id for call_id, outcome in outcomes.items() if outcome == "failed")
        outside += sum(1 for outcome in outcomes.values() if outcome == "outside")
        newly = await store.mark_recordings_purged(done, reason) if done else 0
        marked += newly
        if done and not newly:
            break  # someone else marked them meanwhile: stop rather than loop on them
    return marked, outside, len(failed)


def _delete_files(root: Path, recordings: Sequence[Recording]) -> dict[int, str]:
    """Delete each recording's file and the fetcher's files in its call's folder; runs
    in a thread.  Outcome per call id: ``deleted``, ``outside`` or ``failed``."""
    root = root.resolve()
    outcomes: dict[int, str] = {}
    for recording in recordings:
        try:
            outcomes[recording.call_id] = _delete_one(root, recording)
        except OSError as exc:
            log.warning(
                "retention: cannot delete the recording of call %d: %s",
                recording.call_id, exc.strerror or exc,
            )  # fmt: skip
            outcomes[recording.call_id] = "failed"
    return outcomes


def _delete_one(root: Path, recording: Recording) -> str:
    outcome = "deleted"
    path = Path(recording.path)
    # Resolve the folder, never the file: a symlink named like the recording is removed
    # itself, and a link elsewhere is not followed.
    folder = path.parent.resolve()
    if path.name in ("", ".", "..") or not folder.is_relative_to(root):
        log.warning(
            "retention: the recording of call %d is stored outside %s, so callscribe does "
            "not delete it; remove it by hand if it is a copy",
            recording.call_id, root,
        )  # fmt: skip
        outcome = "outside"
    else:
        (folder / path.name).unlink(missing_ok=True)
    _clear_call_folder(root / str(recording.call_id))
    return outcome


def _clear_call_folder(folder: Path) -> None:
    """Remove what the fetcher left in a call's folder, then the folder if empty."""
    if folder.is_symlink() or not folder.is_dir():
        return  # a link is someone else's doing: never delete through it
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(OWN_PREFIXES) and not entry.is_dir(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: what is left is not ours to delete
        folder.rmdir()


class RetentionTimer:
    """Runs :func:`purge` from the housekeeping sweep at most once per ``interval``, so
    a short sweep period does not turn into a query storm; failures are logged, never
    raised into the scheduler."""

    def __init__(
        self, interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    async def __call__(self, store: AsyncStoreApi, settings: Settings) -> PurgeResult | None:
        """Purge if the last purge started ``interval`` or more ago; None otherwise."""
        started = self._clock()
        if self._last is not None and started - self._last < self.interval:
            return None
        self._last = started
        try:
            return await purge(store, settings)
        except (CallscribeError, OSError) as exc:
            log.error("retention: the purge failed, trying again in a minute: %s", exc)
            return None
