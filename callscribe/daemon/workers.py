"""Worker loops: claim jobs of one stage, keep their leases alive, settle the outcome.

A worker claims, runs its stage's handler, and the handler settles every job it was
given (complete, retry or bury).  While the handler runs a heartbeat renews the leases;
if the process dies the leases expire and the sweeper gives the jobs to another worker.
On a graceful stop a worker finishes what it holds; if the stop timeout cancels it, it
gives its jobs back untouched.

A batching worker (transcription) can *gather*: having claimed fewer jobs than its batch
while the previous stage is still handing work over, it waits a little for those jobs, so
a burst of calls is recognised together instead of the first one alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from callscribe.errors import CallscribeError, StoreError
from callscribe.retry import RetryPolicy
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import Job, JobKind

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Job]], Awaitable[None]]
OUTAGE_DELAYS = (1.0, 2.0, 5.0, 10.0)


class Doorbell:
    """Wakes idle workers when work is queued, so nobody waits for the next poll."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


class Worker:
    def __init__(
        self,
        store: AsyncStoreApi,
        kind: JobKind,
        handler: Handler,
        *,
        doorbell: Doorbell,
        lease_seconds: float,
        heartbeat_seconds: float,
        batch: int = 1,
        idle_seconds: float = 1.0,
        upstream_busy: Callable[[], bool] | None = None,
        gather_seconds: float = 0.0,
    ) -> None:
        self.name = f"{kind.value}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._store = store
        self._kind = kind
        self._handler = handler
        self._doorbell = doorbell
        self._lease = lease_seconds
        self._heartbeat = heartbeat_seconds
        self._batch = batch
        self._idle = idle_seconds
        self._upstream_busy = upstream_busy
        self._gather_seconds = gather_seconds
        self.busy = False  # holds jobs; read by the next stage's gathering worker

    async def run(self, stopping: asyncio.Event) -> None:
        outage = 0  # store failures in a row: the database is unreachable (PostgreSQL)
        while not stopping.is_set():
            try:
                jobs = await self._store.claim([self._kind], self.name, self._lease, self._batch)
            except StoreError as exc:
                outage = await self._wait_out(exc, outage)
                continue
            outage = 0
            if not jobs:
                await self._doorbell.wait(self._idle)
                continue
            self.busy = True
            try:
                await self._gather(jobs)
                async with self._leases(jobs):
                    await self._handler(jobs)
            except asyncio.CancelledError:
                await asyncio.shield(self._release(jobs))
                raise
            except StoreError as exc:
                # The outcome was not committed: the leases run out and the sweeper
                # gives the jobs to a worker again (a stall), once the database is back.
                outage = await self._wait_out(exc, outage)
            except Exception:
                # A bug (a connector raising what is no CallscribeError) costs these jobs,
                # not the worker: their leases run out, the sweeper counts a stall, and
                # max_stalls buries a job that keeps doing it.
                log.exception(
                    "%s: %d job(s) failed unexpectedly; they are retried once their lease runs out",
                    self.name,
                    len(jobs),
                )
            finally:
                self.busy = False

    async def _wait_out(self, error: StoreError, outage: int) -> int:
        delay = OUTAGE_DELAYS[min(outage, len(OUTAGE_DELAYS) - 1)]
        log.error("%s: the store failed (%s); trying again in %.0f s", self.name, error, delay)
        await asyncio.sleep(delay)
        return outage + 1

    async def _gather(self, jobs: list[Job]) -> None:
        """Add the jobs the previous stage is about to finish, up to the batch, waiting at
        most ``gather_seconds``; an idle pipeline (one call) does not wait at all."""
        if self._upstream_busy is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._gather_seconds
        while len(jobs) < self._batch and self._upstream_busy():
            left = deadline - loop.time()
            if left <= 0:
                return
            await self._doorbell.wait(left)
            jobs += await self._store.claim(
                [self._kind], self.name, self._lease, self._batch - len(jobs)
            )

    @contextlib.asynccontextmanager
    async def _leases(self, jobs: Sequence[Job]) -> AsyncIterator[None]:
        ids = [job.id for job in jobs]

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._heartbeat)
                try:
                    held = await self._store.heartbeat(ids, self.name, self._lease)
                except StoreError as exc:  # the next beat may get through: keep going
                    log.error("%s: heartbeat failed: %s", self.name, exc)
                    continue
                if held < len(ids):
                    log.warning("%s: lost the lease of %d job(s)", self.name, len(ids) - held)

        task = asyncio.create_task(renew(), name=f"{self.name}-heartbeat")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _release(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            with contextlib.suppress(CallscribeError):
                await self._store.release(job)


async def settle_failure(
    store: AsyncStoreApi,
    job: Job,
    error: CallscribeError,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> None:
    """Retry the job later if the error says that can help and the policy allows it;
    otherwise bury it with the reason."""
    reason = str(error)
    failures = max(1, job.attempts - job.stalls)  # stalls have their own cap (max_stalls)
    delay = policy.next_delay(failures, error.retry_after, rng) if error.retryable else None
    # Reasons no longer name the sink (a delivery's row does); the log line must.
    job_name = f"job {job.kind} {job.id} (call {job.call_id}" + (
        f", to {job.sink})" if job.sink else ")"
    )
    if delay is None:
        if error.retryable:
            reason = f"{reason} (gave up after {job.attempts} attempts)"
        log.warning("%s failed for good: %s", job_name, reason)
        await store.bury(job, reason)
    else:
        log.info("%s will retry in %.0f s: %s", job_name, delay, reason)
        await store.retry(job, reason, datetime.now(UTC) + timedelta(seconds=delay))
