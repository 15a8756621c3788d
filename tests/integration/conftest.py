"""Fixtures the integration tests share: a real SQLite store in a state folder, on a clock
the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callscribe.store.async_store import AsyncStore
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    s = SqliteStore(state / "callscribe.db", clock=clock)
    yield s
    s.close()


@pytest.fixture
async def astore(store: SqliteStore) -> AsyncIterator[AsyncStore]:
    wrapper = AsyncStore(store)
    yield wrapper
    wrapper._executor.shutdown(wait=True)  # the store fixture closes the store itself
