"""Forgetting calls: the one code the daemon's retention and ``callscribe purge`` share
(reliability.md R-PII-1, R-PII-2, R-PII-5).

What callscribe keeps about a call, and so erases:

- in the database: the event (numbers, names, the vendor's raw fields), the recording's
  row, the transcript and its earlier versions, deliveries with what the sinks saved,
  jobs with their errors, retranscribe items (``Store.erase_calls``), and call parts not
  joined yet (``Store.erase_call_parts``); deleted bytes overwritten and the WAL emptied;
- in the state folder: the recording and everything callscribe wrote beside it (a
  silenced copy for a sink, a half-written download), the call's folder itself;
- the lines a JSONL sink wrote for these calls, when the file is on this machine: it is
  rewritten in place, the old bytes overwritten, under the lock the sink writes with.

Not callscribe's to delete, and so only reported: the PBX's own recordings (a watched
folder, an imported archive, the vendor's cloud) and what helpdesks received.

Files go before rows: a crash in between leaves rows to erase again, never a file that
no row points to any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callscribe.config.settings import Settings
from callscribe.connectors.sinks.jsonl import JsonlSinkConfig
from callscribe.domain import Recording
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import ERASED_KINDS, JobState

log = logging.getLogger(__name__)

BATCH = 200
# What the fetcher and the delivery path leave in a call's folder: the recording, its
# silenced copies and, after a crash, a half-written temp file.  Anything else was put
# there by someone else and stays.
OWN_PREFIXES = ("recording-", ".callscribe-")
_BACKUP_SUFFIX = ".callscribe-purge"


@dataclass
class Erasure:
    """What one erasure did, filled in as it goes."""

    calls: list[int] = field(default_factory=list)
    busy: set[int] = field(default_factory=set)  # a worker is on them: left for next time
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERASED_KINDS, 0))
    files: int = 0  # recording files deleted
    undeletable: list[int] = field(default_factory=list)  # calls whose file stayed: kept
    jsonl_lines: int = 0
    jsonl_failures: list[str] = field(default_factory=list)
    wal_emptied: bool = True

    @property
    def complete(self) -> bool:
        return not (self.busy or self.undeletable or self.jsonl_failures) and self.wal_emptied


async def erase_calls(
    store: AsyncStoreApi, settings: Settings, call_ids: Sequence[int], reason: str
) -> Erasure:
    """Erase these calls: files, rows (with audit rows saying ``reason``), JSONL lines."""
    report = Erasure()
    root = settings.daemon.recordings_dir
    keys: list[str] = []
    for first in range(0, len(call_ids), BATCH):
        batch = list(call_ids[first : first + BATCH])
        running = {job.call_id for job in await store.jobs(JobState.RUNNING)}
        report.busy |= running & set(batch)
        idle = [call_id for call_id in batch if call_id not in running]
        recordings = [r for r in [await store.recording(i) for i in idle] if r is not None]
        outcomes = await asyncio.to_thread(delete_files, root, recordings, idle)
        failed = {call_id for call_id, outcome in outcomes.items() if outcome == "failed"}
        report.undeletable += sorted(failed)
        report.files += sum(1 for outcome in outcomes.values() if outcome == "deleted")
        erased = await store.erase_calls([i for i in idle if i not in failed], reason)
        report.calls += erased.calls
        report.busy |= set(erased.busy)
        report.wal_emptied &= erased.wal_emptied
        for kind, count in erased.counts.items():
            report.counts[kind] += count
        keys += erased.delivery_keys
    if keys:
        await asyncio.to_thread(_scrub_sinks, settings, set(keys), report)
    return report


def jsonl_paths(settings: Settings) -> list[Path]:
    """The files the configured JSONL sinks write."""
    return [c.path for c in settings.sinks.values() if isinstance(c, JsonlSinkConfig)]


def _scrub_sinks(settings: Settings, keys: Collection[str], report: Erasure) -> None:
    for path in jsonl_paths(settings):
        try:
            report.jsonl_lines += scrub_jsonl(path, keys)
        except OSError as exc:
            report.jsonl_failures.append(f"{path}: {exc.strerror or exc}")


def scrub_jsonl(path: Path, keys: Collection[str]) -> int:
    """Remove the lines of these idempotency keys from a JSONL sink's file, in place: the
    file is rewritten from its start and what is left after the kept lines overwritten
    with zeros before it is cut, so the removed bytes are not left on disk.  The sink's
    own lock is held, so no line is appended meanwhile; the kept lines are first copied
    to ``<file>.callscribe-purge`` (removed at the end), in case of a crash halfway.
    Returns how many lines were removed."""
    if not path.exists():
        return 0
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as reading:
            lines = reading.read().splitlines(keepends=True)
        kept = [line for line in lines if _key_of(line) not in keys]
        removed = len(lines) - len(kept)
        if not removed:
            return 0
        content = b"".join(kept)
        backup = path.with_name(path.name + _BACKUP_SUFFIX)
        backup.write_bytes(content)
        size = os.fstat(fd).st_size
        os.pwrite(fd, content + bytes(size - len(content)), 0)
        os.fsync(fd)
        os.ftruncate(fd, len(content))
        os.fsync(fd)
        backup.unlink()
        return removed
    finally:
        os.close(fd)  # releases the lock


def _key_of(line: bytes) -> str | None:
    try:
        key = json.loads(line).get("idempotency_key")
    except (ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


async def purge_recordings(
    store: AsyncStoreApi, root: Path, finished_before: datetime | None, reason: str
) -> tuple[int, int, int]:
    """Delete the recording files of finished calls (``Store.recordings_to_purge``) and
    mark them purged; (marked, outside the recordings folder, could not be deleted)."""
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
        outcomes = await asyncio.to_thread(delete_files, root, batch)
        done = [call_id for call_id, outcome in outcomes.items() if outcome != "failed"]
        failed.update(call_id for call_id, outcome in outcomes.items() if outcome == "failed")
        outside += sum(1 for outcome in outcomes.values() if outcome == "outside")
        newly = await store.mark_recordings_purged(done, reason) if done else 0
        marked += newly
        if done and not newly:
            break  # someone else marked them meanwhile: stop rather than loop on them
    return marked, outside, len(failed)


def delete_files(
    root: Path, recordings: Sequence[Recording], call_ids: Sequence[int] = ()
) -> Mapping[int, str]:
    """Delete each recording's file and callscribe's files in its folder, and the
    folders of ``call_ids`` (calls without a recording row may have left a download
    there); runs in a thread.  Outcome per call id: ``deleted``, ``outside`` (not in
    ``root``: not callscribe's) or ``failed``."""
    root = root.resolve()
    outcomes: dict[int, str] = {}
    for recording in recordings:
        try:
            outcomes[recording.call_id] = _delete_one(root, recording)
        except OSError as exc:
            log.warning(
                "cannot delete the recording of call %d: %s",
                recording.call_id, exc.strerror or exc,
            )  # fmt: skip
            outcomes[recording.call_id] = "failed"
    for call_id in call_ids:
        if call_id not in outcomes:
            try:
                _clear_folder(root, root / str(call_id))
            except OSError as exc:
                log.warning("cannot clear the folder of call %d: %s", call_id, exc.strerror)
                outcomes[call_id] = "failed"
    return outcomes


def _delete_one(root: Path, recording: Recording) -> str:
    outcome = "deleted"
    path = Path(recording.path)
    # Resolve the folder, never the file: a symlink named like the recording is removed
    # itself, and a link elsewhere is not followed.
    folder = path.parent.resolve()
    if path.name in ("", ".", "..") or not folder.is_relative_to(root):
        log.warning(
            "the recording of call %d is stored outside %s, so callscribe does not delete "
            "it; remove it by hand if it is a copy",
            recording.call_id, root,
        )  # fmt: skip
        outcome = "outside"
    else:
        (folder / path.name).unlink(missing_ok=True)
        _clear_folder(root, folder)
    _clear_folder(root, root / str(recording.call_id))
    return outcome


def _clear_folder(root: Path, folder: Path) -> None:
    """Remove callscribe's files from a call's folder inside ``root``, then the folder
    if it is empty."""
    if folder == root or folder.is_symlink() or not folder.is_dir():
        return  # a link is someone else's doing: never delete through it
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(OWN_PREFIXES) and not entry.is_dir(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: what is left is not ours to delete
        folder.rmdir()
