"""The store for asyncio code: every call runs on one dedicated thread.

SQLite calls block on disk (``synchronous=FULL`` waits for fsync at every commit), so
they must not run on the event loop; and a connection is best used from a single
thread, so they all go to one worker thread, in the order they were made.  That thread
is the only one that touches the wrapped store.

Cancelling a coroutine does not cancel its call: the transaction on the worker thread
still runs to its end (committed or rolled back), only its result is dropped.  That is
what the store's "a method that returns has committed" promise needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

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
from callscribe.store.base import (
    CallFacts,
    CallParts,
    Erased,
    Ingested,
    Job,
    JobKind,
    JobState,
    NumberTraces,
    Store,
)

P = ParamSpec("P")
T = TypeVar("T")
IngestMany = Callable[
    [Sequence[tuple[CallEvent, Sequence[str] | None]]], Sequence[Ingested | Exception]
]


class AsyncStore:
    """The :class:`~callscribe.store.base.Store` methods as coroutines
    (:class:`~callscribe.store.async_api.AsyncStoreApi`)."""

    def __init__(self, store: Store, *, _executor: ThreadPoolExecutor | None = None) -> None:
        self.store = store
        self._executor = _executor or _single_thread()
        # Group commit: ingests that arrive while the store thread syncs the last batch to
        # disk go into the next one, one transaction and one sync for all of them.
        self._ingest_many: IngestMany | None = getattr(store, "ingest_many", None)
        self._batch: list[tuple[CallEvent, Sequence[str] | None, asyncio.Future[Ingested]]] = []
        self._flushing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, factory: Callable[[], Store]) -> AsyncStore:
        """Create the store on the worker thread too: opening runs ``quick_check`` and
        migrations, which can take a while on a big database."""
        executor = _single_thread()
        try:
            store = await asyncio.get_running_loop().run_in_executor(executor, factory)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, _executor=executor)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the store's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def ingest(self, event: CallEvent, sinks: Sequence[str] | None = None) -> Ingested:
        """Returns once the event is committed: alone, or with the others that came
        meanwhile, in one transaction (a store without ``ingest_many``: alone)."""
        if self._ingest_many is None:
            return await self.run(self.store.ingest, event, sinks)
        stored: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        self._batch.append((event, sinks, stored))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(self._ingest_many))
        # Shielded: a caller that stops waiting leaves the batch to finish for the others.
        return await asyncio.shield(stored)

    async def _flush(self, ingest_many: IngestMany) -> None:
        while self._batch:
            batch, self._batch = self._batch, []
            try:
                results = await self.run(ingest_many, [(event, sinks) for event, sinks, _ in batch])
            except Exception as exc:  # the transaction itself failed: none is stored
                results = [exc] * len(batch)
            for (_, _, stored), result in zip(batch, results, strict=True):
                if stored.done():
                    continue
                if isinstance(result, Exception):
                    stored.set_exception(result)
                else:
                    stored.set_result(result)

    async def add_call_part(self, part: CallPart) -> CallParts | None:
        return await self.run(self.store.add_call_part, part)

    async def call_parts(self, received_before: datetime | None = None) -> list[CallParts]:
        return await self.run(self.store.call_parts, received_before)

    async def claim(
        self, kinds: Sequence[JobKind], worker: str, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        return await self.run(self.store.claim, kinds, worker, lease_seconds, limit)

    async def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float) -> int:
        return await self.run(self.store.heartbeat, job_ids, worker, lease_seconds)

    async def release(self, job: Job) -> None:
        await self.run(self.store.release, job)

    async def retry(self, job: Job, error: str, run_at: datetime) -> None:
        await self.run(self.store.retry, job, error, run_at)

    async def bury(self, job: Job, error: str) -> None:
        await self.run(self.store.bury, job, error)

    async def sweep(self, now: datetime | None = None) -> int:
        return await self.run(self.store.sweep, now)

    async def complete_fetch(self, job: Job, recording: Recording) -> None:
        await self.run(self.store.complete_fetch, job, recording)

    async def complete_transcribe(
        self,
        job: Job,
        transcript: Transcript,
        sinks: Sequence[str],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        await self.run(self.store.complete_transcribe, job, transcript, sinks, settings)

    async def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        await self.run(self.store.queue_deliveries, call_id, sinks)

    async def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        await self.run(self.store.complete_delivery, job, remote_id)

    async def save_delivery_progress(
        self, call_id: int, sink: str, progress: Mapping[str, Any], version: int = 1
    ) -> None:
        await self.run(self.store.save_delivery_progress, call_id, sink, progress, version)

    async def revive_delivery(self, call_id: int, sink: str) -> bool:
        return await self.run(self.store.revive_delivery, call_id, sink)

    async def revive_call(self, call_id: int, *, refetch: bool = False) -> JobKind | None:
        return await self.run(self.store.revive_call, call_id, refetch=refetch)

    async def recordings_to_purge(
        self, limit: int, finished_before: datetime | None = None
    ) -> list[Recording]:
        return await self.run(self.store.recordings_to_purge, limit, finished_before)

    async def mark_recordings_purged(self, call_ids: Sequence[int], reason: str) -> int:
        return await self.run(self.store.mark_recordings_purged, call_ids, reason)

    async def purge_transcripts(self, older_than: datetime, reason: str) -> int:
        return await self.run(self.store.purge_transcripts, older_than, reason)

    async def backfilled_days(self, source: str) -> set[date]:
        return await self.run(self.store.backfilled_days, source)

    async def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        await self.run(self.store.finish_backfill_day, source, day, calls, new_calls)

    async def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        return await self.run(self.store.known_calls, source, external_ids)

    async def number_traces(self, number: str) -> NumberTraces:
        return await self.run(self.store.number_traces, number)

    async def finished_calls(
        self, finished_before: datetime, limit: int, after_id: int = 0
    ) -> list[int]:
        return await self.run(self.store.finished_calls, finished_before, limit, after_id)

    async def erasure_counts(self, call_ids: Sequence[int]) -> Mapping[str, int]:
        return await self.run(self.store.erasure_counts, call_ids)

    async def erase_calls(self, call_ids: Sequence[int], reason: str) -> Erased:
        return await self.run(self.store.erase_calls, call_ids, reason)

    async def erase_call_parts(self, number: str, reason: str) -> int:
        return await self.run(self.store.erase_call_parts, number, reason)

    async def call(self, call_id: int) -> Call:
        return await self.run(self.store.call, call_id)

    async def recording(self, call_id: int) -> Recording | None:
        return await self.run(self.store.recording, call_id)

    async def transcript(self, call_id: int, version: int | None = None) -> Transcript | None:
        return await self.run(self.store.transcript, call_id, version)

    async def deliveries(
        self,
        call_id: int | None = None,
        state: DeliveryState | None = None,
        sink: str | None = None,
    ) -> list[Delivery]:
        return await self.run(self.store.deliveries, call_id, state, sink)

    async def calls(
        self, state: CallState | None = None, limit: int = 100, source: str | None = None
    ) -> list[Call]:
        return await self.run(self.store.calls, state, limit, source)

    async def call_facts(self, call_ids: Sequence[int]) -> dict[int, CallFacts]:
        return await self.run(self.store.call_facts, call_ids)

    async def jobs(self, state: JobState | None = None, kind: JobKind | None = None) -> list[Job]:
        return await self.run(self.store.jobs, state, kind)

    async def job_counts(self) -> Mapping[tuple[JobKind, JobState], int]:
        return await self.run(self.store.job_counts)

    async def oldest_queued_at(self) -> datetime | None:
        return await self.run(self.store.oldest_queued_at)

    def ready(self) -> bool:
        return True  # a local file: when it fails, the method that failed says so

    async def run_exclusively(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        await work()  # a SQLite file has one node

    async def aclose(self) -> None:
        """Close the store after the calls already submitted, then stop the thread."""
        try:
            await self.run(self.store.close)
        finally:
            # The queue is empty now (close was the last job), so this does not block.
            self._executor.shutdown(wait=True)


def _single_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="callscribe-store")
