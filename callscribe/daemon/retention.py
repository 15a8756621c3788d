"""Retention (reliability.md R-PII-1, R-PII-2): recordings are deleted once their call
finished (or, while recording links are served, ``linked_recording_days`` later, so the
links play until then), transcripts some days later, whole calls (``call_days``) later
still if the admin says so, and every deletion leaves an audit row.  The deleting is
``callscribe.erasure``'s, the same code ``callscribe purge`` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callscribe.config.settings import Settings
from callscribe.erasure import BATCH, erase_calls, purge_recordings
from callscribe.errors import CallscribeError
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.codec import utc_now

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
RECORDING_REASON = "recording retention: call finished"


@dataclass(frozen=True, slots=True)
class PurgeResult:
    recordings: int = 0  # recordings marked purged (files deleted or already gone)
    outside: int = 0  # of those, paths outside recordings_dir: marked, file left alone
    failed: int = 0  # files that could not be deleted: tried again next time
    transcripts: int = 0
    calls: int = 0  # whole calls erased (call_days)


async def purge(
    store: AsyncStoreApi, settings: Settings, *, now: datetime | None = None
) -> PurgeResult:
    """Delete the recording files of finished calls, transcripts past retention and, with
    ``call_days``, whole calls past it."""
    retention = settings.retention
    now = now or utc_now()
    recordings = outside = failed = transcripts = calls = 0
    if not retention.keep_recordings:
        days = retention.linked_recording_days if settings.daemon.public_url else 0.0
        finished_before = now - timedelta(days=days) if days else None
        reason = RECORDING_REASON
        if days:
            reason += f"; delivered calls' kept {days:g} days for recording links"
        recordings, outside, failed = await purge_recordings(
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
    if retention.call_days is not None:
        calls = await _erase_old_calls(store, settings, now - timedelta(days=retention.call_days))
    return PurgeResult(recordings, outside, failed, transcripts, calls)


async def _erase_old_calls(store: AsyncStoreApi, settings: Settings, cutoff: datetime) -> int:
    days = settings.retention.call_days
    old = await store.finished_calls(cutoff, BATCH)
    if not old:
        return 0
    erased = await erase_calls(store, settings, old, f"call retention: {days} days after the call")
    log.info(
        "retention: erased %d call(s) finished over %s days ago (%d busy, left for later)",
        len(erased.calls), days, len(erased.busy),
    )  # fmt: skip
    return len(erased.calls)


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
