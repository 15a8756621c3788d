"""Queue benchmark: jobs claimed and completed per second by 1, 2 and 3 nodes.

Why: with several nodes on one PostgreSQL, the queue itself (claim with FOR UPDATE SKIP
LOCKED, complete, settle the call) must not be what limits them.  Each node is a process
with ``--workers`` coroutines on one ``PostgresStore``, each looping claim → complete on
stand-in jobs (missed calls' deliveries: no HTTP, no model), so the figure is the
store's.  A private PostgreSQL server is started here with fsync on, as in production;
SQLite (one node: its file is on one machine) is measured the same way for reference.

    .venv/bin/python benchmarks/jobqueue.py [--jobs 3000] [--workers 4] [--nodes 1 2 3]

Nothing is asserted; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from callscribe.domain import CallEvent
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import JobKind
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore
from callscribe.testing_postgres import PostgresCluster


async def open_store(where: str, password: str) -> AsyncStoreApi:
    if where.startswith("postgresql://"):
        return await PostgresStore.open(PgTarget(where, password), pool_size=8)
    return await AsyncStore.open(lambda: SqliteStore(Path(where)))


async def fill(where: str, password: str, jobs: int) -> None:
    store = await open_store(where, password)
    try:
        for n in range(jobs):
            await store.ingest(CallEvent("bench", f"call-{n}"), ["stand-in"])
    finally:
        await store.aclose()


async def node(where: str, password: str, workers: int) -> int:
    """One node: ``workers`` loops until nothing is left to claim; jobs done."""
    store = await open_store(where, password)
    name = f"bench-{id(store)}"

    async def loop(n: int) -> int:
        done = 0
        while jobs := await store.claim([JobKind.DELIVER], f"{name}-{n}", 60):
            await store.complete_delivery(jobs[0], None)
            done += 1
        return done

    print("ready", flush=True)
    sys.stdin.readline()  # "go": every node starts at once
    try:
        return sum(await asyncio.gather(*(loop(n) for n in range(workers))))
    finally:
        await store.aclose()


def measure(where: str, password: str, nodes: int, workers: int, jobs: int) -> float:
    """Jobs per second for ``nodes`` processes on a queue of ``jobs``."""
    asyncio.run(fill(where, password, jobs))
    command = [sys.executable, __file__, "--node", where, "--workers", str(workers)]
    children = [
        subprocess.Popen(  # noqa: S603 - this script
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(nodes)
    ]
    for child in children:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(password + "\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    counts = [int(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    elapsed = time.perf_counter() - started
    if sum(counts) != jobs:
        raise SystemExit(f"{sum(counts)} jobs done of {jobs}: {counts}")
    return jobs / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=4, help="claim loops per node")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--node", help=argparse.SUPPRESS)  # a child: where the queue is
    args = parser.parse_args(argv)
    if args.node:
        password = sys.stdin.readline().strip()
        print(asyncio.run(node(args.node, password, args.workers)), flush=True)
        return 0

    print(f"{args.jobs} stand-in jobs, {args.workers} claim loops per node")
    print(f"{'store':12}{'nodes':>6}{'jobs/s':>9}")
    with tempfile.TemporaryDirectory(prefix="callscribe-queue-") as tmp:
        rate = measure(str(Path(tmp) / "queue.db"), "", 1, args.workers, args.jobs)
        print(f"{'SQLite':12}{1:6}{rate:9.0f}", flush=True)
    cluster = PostgresCluster.start(durable=True)
    try:
        for nodes in args.nodes:
            rate = measure(
                cluster.database("queue"), cluster.password, nodes, args.workers, args.jobs
            )
            print(f"{'PostgreSQL':12}{nodes:6}{rate:9.0f}", flush=True)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
