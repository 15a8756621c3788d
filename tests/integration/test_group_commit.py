"""Group commit: webhooks that arrive together are stored in one transaction (one sync to
disk), each still answered only once it is committed, and each refused on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from callscribe.domain import CallEvent
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import Ingested
from callscribe.store.sqlite import SqliteStore
from tests.integration.test_store_sqlite import event


class CountingStore(SqliteStore):
    """Counts the transactions ingest_many ran, and their sizes."""

    batches: list[int]

    def ingest_many(
        self, items: Sequence[tuple[CallEvent, Sequence[str] | None]]
    ) -> list[Ingested | Exception]:
        self.batches.append(len(items))
        return super().ingest_many(items)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    inner = CountingStore(tmp_path / "callscribe.db")
    inner.batches = []
    wrapper = AsyncStore(inner)
    yield wrapper
    await wrapper.aclose()


def batches(store: AsyncStore) -> list[int]:
    assert isinstance(store.store, CountingStore)
    return store.store.batches


async def test_events_that_arrive_together_share_a_transaction(store: AsyncStore) -> None:
    results = await asyncio.gather(*(store.ingest(event(n)) for n in range(50)))
    assert all(r.created for r in results)
    assert len({r.call_id for r in results}) == 50
    assert sum(batches(store)) == 50
    assert len(batches(store)) < 50  # the first goes alone, the rest waited and went together
    assert (await store.ingest(event(3))).created is False  # a duplicate is still one call


async def test_a_bad_event_is_refused_alone(store: AsyncStore, tmp_path: Path) -> None:
    naive = dataclasses.replace(event("naive"), started_at=datetime(2026, 1, 1))
    surrogate = dataclasses.replace(event("text"), raw={"a": "\ud800"})
    good = [event(n) for n in range(5)]
    results = await asyncio.gather(
        *(store.ingest(e) for e in [*good[:2], naive, surrogate, *good[2:]]),
        return_exceptions=True,
    )
    assert isinstance(results[2], ValueError)  # naive time: the event is refused
    assert isinstance(results[3], UnicodeEncodeError)  # text SQLite cannot store
    assert all(isinstance(r, Ingested) and r.created for r in results[:2] + results[4:])
    with sqlite3.connect(tmp_path / "callscribe.db") as db:
        stored = {row[0] for row in db.execute("SELECT external_id FROM calls")}
    assert stored == {e.external_id for e in good}


async def test_a_caller_that_stops_waiting_does_not_stop_the_batch(store: AsyncStore) -> None:
    waiting = [asyncio.create_task(store.ingest(event(n))) for n in range(10)]
    await asyncio.sleep(0)
    waiting[5].cancel()
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[5], asyncio.CancelledError)
    again = await store.ingest(event(5))
    assert again.created is False  # committed with its batch all the same
