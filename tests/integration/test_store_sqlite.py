"""What only SqliteStore has: its file settings, schema versions, damaged files, its
job-key index under concurrent writers, the thread facade, and acknowledged calls
surviving kill -9.  The queue's promises are in test_store_contract.py, for both stores."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from callscribe.domain import (
    CallEvent,
)
from callscribe.errors import StoreError
from callscribe.store import sqlite_jobs
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import JobKind
from callscribe.store.codec import event_from_json, event_to_json, format_time, idempotency_key
from callscribe.store.migrations import SCHEMA_VERSION
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import T0, FakeClock, event, parallel

PAGE = 4096  # SQLite's default page size


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "callscribe.db"


@pytest.fixture
def store(db: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    s = SqliteStore(db, clock=clock)
    yield s
    s.close()


# --- opening the file -------------------------------------------------------------------


def test_pragmas_are_in_effect(store: SqliteStore, db: Path) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.parent.is_dir()  # the state directory was created


def test_migrates_an_empty_file_and_reopens(db: Path, clock: FakeClock) -> None:
    SqliteStore(db, clock=clock).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"calls", "recordings", "transcripts", "deliveries", "jobs"} <= tables
    assert {"jobs_active_key", "jobs_claim"} <= indexes
    reopened = SqliteStore(db, clock=clock)  # already current: nothing to do
    assert reopened.calls() == []
    reopened.close()


def test_refuses_a_database_from_a_newer_callscribe(db: Path) -> None:
    SqliteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="written by a newer callscribe") as info:
        SqliteStore(db)
    assert str(db) in str(info.value)


def test_refuses_a_file_that_is_not_a_database(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_text("call_id,text\n1,hello\n" * 500)
    with pytest.raises(StoreError, match="is not a SQLite database") as info:
        SqliteStore(db)
    assert str(db) in str(info.value)


def filled_database(db: Path) -> bytearray:
    """A closed database of 300 calls (the WAL checkpointed into it), as bytes."""
    s = SqliteStore(db, clock=FakeClock())  # same times, same bytes, every run
    for n in range(300):
        s.ingest(event(n))
    s.close()  # the last connection checkpoints the WAL into the main file
    assert not db.with_name(db.name + "-wal").exists()
    return bytearray(db.read_bytes())


def assert_refused_as_damaged(db: Path) -> str:
    with pytest.raises(StoreError, match="damaged") as info:
        SqliteStore(db)
    message = str(info.value)
    assert str(db) in message
    assert "quick_check" in message
    assert "backup" in message
    return message


def test_refuses_a_database_with_garbled_pages(db: Path) -> None:
    data = filled_database(db)
    assert len(data) > 20 * PAGE
    rng = random.Random(1)
    for number in (3, 7, 12, 15):  # garble b-tree pages, leave the header page alone
        data[number * PAGE : (number + 1) * PAGE] = rng.randbytes(PAGE)
    db.write_bytes(bytes(data))
    assert_refused_as_damaged(db)


def test_refuses_a_database_with_a_bad_cell_pointer(db: Path) -> None:
    data = filled_database(db)
    # The last table leaf page (type 0x0D): point its first cell outside the page.
    leaf = max(n for n in range(1, len(data) // PAGE) if data[n * PAGE] == 0x0D)
    data[leaf * PAGE + 8 : leaf * PAGE + 10] = b"\xff\xff"
    db.write_bytes(bytes(data))
    message = assert_refused_as_damaged(db)
    # quick_check mostly reports the bad cell, but on the very same bytes it sometimes
    # stops with SQLITE_CORRUPT instead (seen in about 1 run in 6): both must refuse.
    assert "out of range" in message or "malformed" in message


# --- ingest -----------------------------------------------------------------------------


def test_ten_stores_opening_a_fresh_file_at_once(db: Path) -> None:
    stores = parallel(10, lambda i: SqliteStore(db))
    for s in stores:
        s.close()


def test_fifty_concurrent_enqueues_of_one_job_key_give_one_row(
    store: SqliteStore, db: Path
) -> None:
    call_id = store.ingest(event(1)).call_id

    def enqueue(_: int) -> int | None:
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            job_id = sqlite_jobs.enqueue(
                conn, JobKind.DELIVER, call_id, "zendesk", now=format_time(T0)
            )
            conn.execute("COMMIT")
            return job_id
        finally:
            conn.close()

    results = parallel(50, enqueue)
    assert sum(r is not None for r in results) == 1
    assert len(store.jobs(kind=JobKind.DELIVER)) == 1


def test_a_finished_job_does_not_block_the_same_key(store: SqliteStore) -> None:
    store.ingest(event(1))
    [job] = store.claim([JobKind.FETCH], "w", 60)
    store.bury(job, "gone")
    conn = store._conn
    conn.execute("BEGIN IMMEDIATE")
    assert (
        sqlite_jobs.enqueue(conn, JobKind.FETCH, job.call_id, None, now=format_time(T0)) is not None
    )
    conn.execute("COMMIT")


def test_event_codec() -> None:
    for original in (event(1), event(2, recorded=False), CallEvent("x", "y")):
        assert event_from_json(event_to_json(original)) == original
    document = json.loads(event_to_json(event(1)))
    assert document["recordings"][0]["channels"] == ["client", "operator"]
    assert document["ended_at"] == "2024-05-01T15:02:30.250000+03:00"
    assert document["direction"] == "inbound"
    with pytest.raises(ValueError, match="naive"):
        event_to_json(CallEvent("x", "y", ended_at=datetime(2024, 5, 1)))


def test_idempotency_key_is_stable_and_short() -> None:
    key = idempotency_key("asterisk", "1714.5", "zendesk")
    assert key == idempotency_key("asterisk", "1714.5", "zendesk")
    assert len(key) <= 255
    assert key.startswith("cs1-")
    assert key != idempotency_key("asterisk", "1714.5", "slack")
    assert idempotency_key("a:b", "c", "s") != idempotency_key("a", "b:c", "s")


# --- claiming ---------------------------------------------------------------------------


# --- leases and stalls ------------------------------------------------------------------


# --- a call's way through ---------------------------------------------------------------


# --- calls reported in several notifications ---------------------------------------------


async def test_async_store_runs_on_one_thread(db: Path) -> None:
    astore = await AsyncStore.open(lambda: SqliteStore(db))
    threads = {await astore.run(threading.get_ident) for _ in range(5)}
    assert len(threads) == 1
    assert threading.get_ident() not in threads
    ingested = await astore.ingest(event(1))
    [job] = await astore.claim([JobKind.FETCH], "w", 60)
    assert job.call_id == ingested.call_id
    assert (await astore.call(ingested.call_id)).event == event(1)
    await astore.aclose()


# --- crashes ----------------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from callscribe.domain import CallEvent, RecordingRef
from callscribe.store.sqlite import SqliteStore

store = SqliteStore(Path(sys.argv[1]))
run = sys.argv[2]
n = 0
while True:
    external_id = f"{run}-{n}"
    store.ingest(CallEvent("crash", external_id, recordings=(RecordingRef("x.wav"),)))
    print(external_id, flush=True)  # only after ingest returned, i.e. committed
    n += 1
"""


def test_acknowledged_calls_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random()
    acked: list[str] = []
    for run in range(20):
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), f"r{run}"], stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None
            lines: list[str] = []
            reader = threading.Thread(
                target=lambda s=child.stdout, out=lines: out.extend(s), daemon=True
            )
            reader.start()
            deadline = time.monotonic() + 60
            while not lines and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.005)  # wait until it is really writing, then kill at random
            assert lines, f"the child did not start: exit code {child.poll()}"
            time.sleep(rng.uniform(0, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait()
            reader.join(10)
        acked.extend(line.strip() for line in lines if line.endswith("\n"))

    store = SqliteStore(db)
    stored = {c.event.external_id for c in store.calls(limit=1_000_000)}
    assert stored >= set(acked)
    assert len(store.jobs()) == len(stored)  # each call got its FETCH job with it
    assert [tuple(r) for r in store._conn.execute("PRAGMA integrity_check")] == [("ok",)]
    assert len(acked) > 100  # the children really were busy committing when killed
    store.close()
