"""What only PostgresStore has: its schema as a translation of SQLite's, migrations under
an advisory lock, the job-key index under concurrent writers, a lost server, the
one-node-at-a-time lock, and acknowledged calls surviving kill -9 of the client."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from callscribe.errors import StoreError
from callscribe.store import pg_jobs
from callscribe.store.base import JobKind
from callscribe.store.blocking import BlockingStore
from callscribe.store.pg_pool import PgTarget
from callscribe.store.pg_schema import SCHEMA_VERSION
from callscribe.store.postgres import PostgresStore
from callscribe.store.postgres_lock import POLL_SECONDS
from callscribe.store.sqlite import SqliteStore
from callscribe.testing import wait_for
from callscribe.testing_postgres import PostgresCluster
from tests.integration.store_values import T0, event


@pytest.fixture
def target(postgres: PostgresCluster) -> PgTarget:
    return PgTarget(postgres.database(), postgres.password)


@pytest.fixture
async def pg(target: PgTarget) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(target, pool_size=4)
    yield store
    await store.aclose()


def columns_sqlite(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    conn.close()
    return found


async def test_the_schema_is_sqlites_translated(pg: PostgresStore, tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").close()
    sqlite_tables = columns_sqlite(tmp_path / "s.db")
    async with await pg.target.connect() as conn:
        cursor = await conn.execute(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
            " ORDER BY table_name, ordinal_position"
        )
        pg_tables: dict[str, list[str]] = {}
        for row in await cursor.fetchall():
            pg_tables.setdefault(row["t"], []).append(row["c"])
        cursor = await conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        pg_indexes = {row["indexname"] for row in await cursor.fetchall()}
        cursor = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        versions = [row["version"] for row in await cursor.fetchall()]
    assert pg_tables == sqlite_tables  # same tables, same columns, same order
    with sqlite3.connect(tmp_path / "s.db") as conn:
        named = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {n for n in named if not n.startswith("sqlite_autoindex")} <= pg_indexes
    assert versions == list(range(1, SCHEMA_VERSION + 1))


async def test_nodes_starting_at_once_migrate_once(target: PgTarget) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(target, pool_size=2) for _ in range(6)))
    try:
        assert (await stores[0].ingest(event(1))).created
        assert not (await stores[5].ingest(event(1))).created
    finally:
        for store in stores:
            await store.aclose()


async def test_refuses_a_database_from_a_newer_callscribe(pg: PostgresStore) -> None:
    async with await pg.target.connect(autocommit=True) as conn:
        await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (999,))
    with pytest.raises(StoreError, match="newer callscribe"):
        await PostgresStore.open(pg.target)


async def test_fifty_concurrent_enqueues_of_one_job_key_give_one_row(pg: PostgresStore) -> None:
    call_id = (await pg.ingest(event(1, recorded=False))).call_id
    assert call_id is not None
    connections = [await pg.target.connect() for _ in range(50)]
    start = asyncio.Event()

    async def enqueue(conn: psycopg.AsyncConnection[psycopg.rows.DictRow]) -> int | None:
        await start.wait()
        async with conn.transaction():
            return await pg_jobs.enqueue(conn.cursor(), JobKind.DELIVER, call_id, "qolio", T0)

    tasks = [asyncio.create_task(enqueue(conn)) for conn in connections]
    start.set()
    results = await asyncio.gather(*tasks)
    for conn in connections:
        await conn.close()
    assert sum(r is not None for r in results) == 1
    assert len(await pg.jobs(kind=JobKind.DELIVER)) == 1


def test_a_lost_server_is_waited_out_and_reported_not_ready(tmp_path: Path) -> None:
    cluster = PostgresCluster.start()  # its own: this test stops it
    store = BlockingStore(
        lambda: PostgresStore.open(PgTarget(cluster.database(), cluster.password), pool_size=2)
    )
    pg: PostgresStore = store._store  # type: ignore[assignment]
    try:
        store.ingest(event(1))
        # Connections killed under the pool: the next call retries on a fresh one.
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'callscribe'"
            )
        assert store.ingest(event(2)).created
        assert pg.ready()

        cluster.stop_server()
        started = time.monotonic()
        with pytest.raises(StoreError, match="PostgreSQL at"):
            store.ingest(event(3))
        assert time.monotonic() - started < 15  # a webhook sender still gets its 503
        assert not pg.ready()

        cluster.start_server()
        wait_for(pg.ready, 30, "the store to see the server again")
        assert store.ingest(event(3)).created
        assert {c.event.external_id for c in store.calls()} == {"call-1", "call-2", "call-3"}
    finally:
        store.close()
        cluster.stop()


async def test_one_node_at_a_time_and_taking_over(target: PgTarget) -> None:
    first = await PostgresStore.open(target, pool_size=2)
    second = await PostgresStore.open(target, pool_size=2)
    running: list[str] = []
    release = asyncio.Event()

    def work(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            running.append(name)
            await release.wait()

        return run

    try:
        holder = asyncio.create_task(first.run_exclusively("source spool", work("first")))
        await asyncio.sleep(0.5)
        waiter = asyncio.create_task(second.run_exclusively("source spool", work("second")))
        other = asyncio.create_task(second.run_exclusively("source ami", work("ami")))
        await asyncio.sleep(POLL_SECONDS + 1)
        assert sorted(running) == ["ami", "first"]  # another name is another lock
        holder.cancel()  # the holding node stops: its lock goes with its connection
        taken = time.monotonic()
        while "second" not in running:
            await asyncio.sleep(0.1)
            assert time.monotonic() - taken < POLL_SECONDS + 3
        release.set()
        await asyncio.wait_for(asyncio.gather(waiter, other), 10)
    finally:
        for task in (holder, waiter, other):
            task.cancel()
        await first.aclose()
        await second.aclose()


async def test_the_holder_stops_when_its_lock_connection_dies(
    target: PgTarget, postgres: PostgresCluster
) -> None:
    store = await PostgresStore.open(target, pool_size=2)
    starts = 0
    stopped = asyncio.Event()

    async def work() -> None:
        nonlocal starts
        starts += 1
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.set()
            raise

    task = asyncio.create_task(store.run_exclusively("source lonely", work))
    try:
        while starts == 0:
            await asyncio.sleep(0.1)
        async with await psycopg.AsyncConnection.connect(postgres.dsn(), autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted"
            )
        await asyncio.wait_for(stopped.wait(), POLL_SECONDS + 6)  # stopped, maybe not ours
        while starts < 2:  # and it takes the lock again once it can
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await store.aclose()


CHILD = """
import asyncio, sys
from callscribe.domain import CallEvent, RecordingRef
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore

async def main():
    store = await PostgresStore.open(PgTarget(sys.argv[1], sys.argv[2]), pool_size=2)
    n = 0
    while True:
        external_id = f"{sys.argv[3]}-{n}"
        await store.ingest(CallEvent("crash", external_id, recordings=(RecordingRef("x.wav"),)))
        print(external_id, flush=True)  # only after ingest returned, i.e. committed
        n += 1

asyncio.run(main())
"""


def test_acknowledged_calls_survive_sigkill(target: PgTarget) -> None:
    rng = random.Random()
    acked: list[str] = []
    for run in range(8):
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, target.url, target.password or "", f"r{run}"],
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            lines: list[str] = []
            reader = threading.Thread(
                target=lambda s=child.stdout, out=lines: out.extend(s), daemon=True
            )
            reader.start()
            wait_for(lambda out=lines: bool(out) or child.poll() is not None, 60, "the child")
            assert lines, f"the child did not start: exit code {child.poll()}"
            time.sleep(rng.uniform(0, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait()
            reader.join(10)
        acked.extend(line.strip() for line in lines if line.endswith("\n"))
    store = BlockingStore(lambda: PostgresStore.open(target, pool_size=2))
    try:
        stored = {c.event.external_id for c in store.calls(limit=1_000_000)}
        assert stored >= set(acked)
        assert len(store.jobs()) == len(stored)
        assert len(acked) > 50
    finally:
        store.close()
