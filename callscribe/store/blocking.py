"""A :class:`~callscribe.store.base.Store` (blocking calls) over an async store, for the
CLI and the contract tests: the async store runs on an event loop of its own thread, and
each method waits for its coroutine there.

Why not a second, synchronous PostgreSQL store: the SQL and the rules about claims would
be written twice and could drift; this way the CLI runs exactly the code the daemon runs.
Call it from plain (non-async) code; from a coroutine, use the async store itself.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from callscribe.domain import (
    Call,
    CallEvent,
    CallPart,
    CallState,
    Delivery,
    DeliveryState,
    Recording,
    Transcript,
)
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import CallFacts, CallParts, Ingested, Job, JobKind, JobState

T = TypeVar("T")


class BlockingStore:
    """Opens the async store with ``opener`` on its own loop; :meth:`close` closes both."""

    def __init__(self, opener: Callable[[], Awaitable[AsyncStoreApi]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="callscribe-store-loop", daemon=True
        )
        self._thread.start()
        try:
            self._store = self._wait(_awaited(opener))
        except BaseException:
            self._stop()
            raise

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._wait(self._store.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def ingest(self, event: CallEvent, sinks: Sequence[str] | None = None) -> Ingested:
        return self._wait(self._store.ingest(event, sinks))

    def add_call_part(self, part: CallPart) -> CallParts | None:
        return self._wait(self._store.add_call_part(part))

    def call_parts(self, received_before: datetime | None = None) -> list[CallParts]:
        return self._wait(self._store.call_parts(received_before))

    def claim(
        self, kinds: Sequence[JobKind], worker: str, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        return self._wait(self._store.claim(kinds, worker, lease_seconds, limit))

    def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float) -> int:
        return self._wait(self._store.heartbeat(job_ids, worker, lease_seconds))

    def release(self, job: Job) -> None:
        self._wait(self._store.release(job))

    def retry(self, job: Job, error: str, run_at: datetime) -> None:
        self._wait(self._store.retry(job, error, run_at))

    def bury(self, job: Job, error: str) -> None:
        self._wait(self._store.bury(job, error))

    def sweep(self, now: datetime | None = None) -> int:
        return self._wait(self._store.sweep(now))

    def complete_fetch(self, job: Job, recording: Recording) -> None:
        self._wait(self._store.complete_fetch(job, recording))

    def complete_transcribe(self, job: Job, transcript: Transcript, sinks: Sequence[str]) -> None:
        self._wait(self._store.complete_transcribe(job, transcript, sinks))

    def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        self._wait(self._store.queue_deliveries(call_id, sinks))

    def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        self._wait(self._store.complete_delivery(job, remote_id))

    def save_delivery_progress(self, call_id: int, sink: str, progress: Mapping[str, Any]) -> None:
        self._wait(self._store.save_delivery_progress(call_id, sink, progress))

    def revive_delivery(self, call_id: int, sink: str) -> bool:
        return self._wait(self._store.revive_delivery(call_id, sink))

    def revive_call(self, call_id: int, *, refetch: bool = False) -> JobKind | None:
        return self._wait(self._store.revive_call(call_id, refetch=refetch))

    def recordings_to_purge(
        self, limit: int, finished_before: datetime | None = None
    ) -> list[Recording]:
        return self._wait(self._store.recordings_to_purge(limit, finished_before))

    def mark_recordings_purged(self, call_ids: Sequence[int], reason: str) -> int:
        return self._wait(self._store.mark_recordings_purged(call_ids, reason))

    def purge_transcripts(self, older_than: datetime, reason: str) -> int:
        return self._wait(self._store.purge_transcripts(older_than, reason))

    def backfilled_days(self, source: str) -> set[date]:
        return self._wait(self._store.backfilled_days(source))

    def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        self._wait(self._store.finish_backfill_day(source, day, calls, new_calls))

    def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        return self._wait(self._store.known_calls(source, external_ids))

    def call(self, call_id: int) -> Call:
        return self._wait(self._store.call(call_id))

    def recording(self, call_id: int) -> Recording | None:
        return self._wait(self._store.recording(call_id))

    def transcript(self, call_id: int) -> Transcript | None:
        return self._wait(self._store.transcript(call_id))

    def deliveries(
        self,
        call_id: int | None = None,
        state: DeliveryState | None = None,
        sink: str | None = None,
    ) -> list[Delivery]:
        return self._wait(self._store.deliveries(call_id, state, sink))

    def calls(
        self, state: CallState | None = None, limit: int = 100, source: str | None = None
    ) -> list[Call]:
        return self._wait(self._store.calls(state, limit, source))

    def call_facts(self, call_ids: Sequence[int]) -> dict[int, CallFacts]:
        return self._wait(self._store.call_facts(call_ids))

    def jobs(self, state: JobState | None = None, kind: JobKind | None = None) -> list[Job]:
        return self._wait(self._store.jobs(state, kind))

    def job_counts(self) -> Mapping[tuple[JobKind, JobState], int]:
        return self._wait(self._store.job_counts())

    def oldest_queued_at(self) -> datetime | None:
        return self._wait(self._store.oldest_queued_at())


async def _awaited(opener: Callable[[], Awaitable[T]]) -> T:
    return await opener()
