"""Worker gathering on a real SQLite queue: a burst of calls shares one batch, a lone call
does not wait for company."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from callscribe.daemon.workers import Doorbell, Worker
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import Job, JobKind
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import event

NEVER = 3600.0  # a gathering worker that waited this long would hang the test


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    wrapper = AsyncStore(SqliteStore(tmp_path / "callscribe.db"))
    yield wrapper
    await wrapper.aclose()


class Recorder:
    """A stage handler that notes the batches it is given and stops the worker."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.batches: list[list[int]] = []
        self._stopping = stopping

    async def __call__(self, jobs: Sequence[Job]) -> None:
        self.batches.append([job.call_id for job in jobs])
        self._stopping.set()


def worker(
    store: AsyncStore, recorder: Recorder, doorbell: Doorbell, upstream: list[bool], gather: float
) -> Worker:
    return Worker(
        store,
        JobKind.FETCH,
        recorder,
        doorbell=doorbell,
        lease_seconds=60,
        heartbeat_seconds=30,
        batch=4,
        upstream_busy=lambda: upstream[0],
        gather_seconds=gather,
    )


async def test_a_burst_still_arriving_is_handled_as_one_batch(store: AsyncStore) -> None:
    stopping, doorbell, upstream = asyncio.Event(), Doorbell(), [True]
    recorder = Recorder(stopping)
    first = await store.ingest(event(1))
    running = asyncio.create_task(worker(store, recorder, doorbell, upstream, NEVER).run(stopping))
    later = []
    for n in (2, 3):
        await asyncio.sleep(0.05)  # the previous stage hands calls over one by one
        later.append(await store.ingest(event(n)))
        doorbell.ring()
    upstream[0] = False  # the previous stage has nothing more in hand
    doorbell.ring()
    await asyncio.wait_for(running, 30)
    assert recorder.batches == [[first.call_id, *(i.call_id for i in later)]]


async def test_a_full_batch_does_not_wait(store: AsyncStore) -> None:
    stopping, doorbell, upstream = asyncio.Event(), Doorbell(), [True]
    recorder = Recorder(stopping)
    ids = [(await store.ingest(event(n))).call_id for n in range(5)]
    await asyncio.wait_for(worker(store, recorder, doorbell, upstream, NEVER).run(stopping), 30)
    assert recorder.batches == [ids[:4]]


async def test_a_lone_call_on_an_idle_pipeline_does_not_wait(store: AsyncStore) -> None:
    stopping, doorbell, upstream = asyncio.Event(), Doorbell(), [False]
    recorder = Recorder(stopping)
    only = await store.ingest(event(1))
    await asyncio.wait_for(worker(store, recorder, doorbell, upstream, NEVER).run(stopping), 30)
    assert recorder.batches == [[only.call_id]]


async def test_gathering_gives_up_after_its_time(store: AsyncStore) -> None:
    stopping, doorbell, upstream = asyncio.Event(), Doorbell(), [True]  # busy for ever
    recorder = Recorder(stopping)
    only = await store.ingest(event(1))
    await asyncio.wait_for(worker(store, recorder, doorbell, upstream, 0.2).run(stopping), 30)
    assert recorder.batches == [[only.call_id]]


async def test_the_worker_is_busy_only_while_it_holds_jobs(store: AsyncStore) -> None:
    stopping, doorbell = asyncio.Event(), Doorbell()
    seen: list[bool] = []

    async def handler(jobs: Sequence[Job]) -> None:
        seen.append(subject.busy)
        stopping.set()

    subject = Worker(
        store, JobKind.FETCH, handler, doorbell=doorbell, lease_seconds=60, heartbeat_seconds=30
    )
    assert not subject.busy
    await store.ingest(event(1))
    await asyncio.wait_for(subject.run(stopping), 30)
    assert seen == [True]
    assert not subject.busy


async def test_a_handler_that_raises_costs_its_jobs_not_the_worker(store: AsyncStore) -> None:
    """A connector bug (an exception that is no CallscribeError) must not stop the stage:
    the worker goes on to the next job, and the failed one waits for its lease."""
    stopping, seen = asyncio.Event(), []

    async def handler(jobs: Sequence[Job]) -> None:
        seen.append(jobs[0].call_id)
        if len(seen) == 1:
            raise RuntimeError("a connector bug")
        stopping.set()

    first = await store.ingest(event(1))
    second = await store.ingest(event(2))
    lone = Worker(
        store, JobKind.FETCH, handler, doorbell=Doorbell(), lease_seconds=60, heartbeat_seconds=30
    )
    await asyncio.wait_for(lone.run(stopping), 30)
    assert seen == [first.call_id, second.call_id]
    assert await store.claim([JobKind.FETCH], "other", 60) == []  # still leased, not lost
