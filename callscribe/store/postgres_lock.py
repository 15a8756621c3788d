"""One node at a time: a running source that must not run twice (a watched folder, an AMI
connection) runs on the node holding a PostgreSQL advisory lock named after it.

The lock belongs to a connection of its own, outside the pool.  The other nodes try to
take it every :data:`POLL_SECONDS`.  When the holding process dies its connection closes
and the server drops the lock at once, so another node takes over within
``POLL_SECONDS`` (measured in tests/e2e/test_multinode.py).  When the whole machine or
its network goes, the server notices by TCP keepalive (:data:`SERVER_KEEPALIVE`, about
20 s) before the lock is free.  The holder checks its connection every
``POLL_SECONDS`` too, and stops the work as soon as the check fails: it may have lost
the lock, so it must not go on beside the next holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from callscribe.errors import StoreError
from callscribe.store.pg_pool import SESSION_OPTIONS, PgTarget
from callscribe.store.pg_schema import SOURCE_LOCK_SPACE

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
CHECK_TIMEOUT = 5.0
# The server closes the session of a silent peer after 10 + 3 × 3 s (per-session GUCs).
SERVER_KEEPALIVE = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=3 -c tcp_keepalives_count=3"
)


def lock_key(name: str) -> tuple[int, int]:
    """The two int4 keys of the lock for ``name``."""
    crc = zlib.crc32(name.encode("utf-8"))
    return SOURCE_LOCK_SPACE, crc - (1 << 32) if crc >= 1 << 31 else crc


async def run_exclusively(target: PgTarget, name: str, work: Callable[[], Awaitable[None]]) -> None:
    """See :meth:`~callscribe.store.async_api.AsyncStoreApi.run_exclusively`."""
    key = lock_key(name)
    while True:
        try:
            conn = await target.connect(
                autocommit=True, options=f"{SESSION_OPTIONS} {SERVER_KEEPALIVE}"
            )
        except StoreError as exc:
            log.error("%s: %s; trying again in %.0f s", name, exc, POLL_SECONDS)
            await asyncio.sleep(POLL_SECONDS)
            continue
        try:
            await _take(conn, key, name)
            log.info("%s runs on this node now", name)
            await _run_while_held(conn, work)
            return
        except psycopg.Error as exc:
            log.error(
                "%s: stopped on this node, its database connection failed (%s); "
                "it runs wherever the lock is taken next",
                name,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.close()  # closing the session drops the lock
        await asyncio.sleep(POLL_SECONDS)


async def _take(conn: AsyncConnection[DictRow], key: tuple[int, int], name: str) -> None:
    said = False
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS taken", key)
        row = await cursor.fetchone()
        if row is not None and row["taken"]:
            return
        if not said:
            log.info("%s runs on another node; this one takes over if that one stops", name)
            said = True
        await asyncio.sleep(POLL_SECONDS)


async def _run_while_held(
    conn: AsyncConnection[DictRow], work: Callable[[], Awaitable[None]]
) -> None:
    task = asyncio.ensure_future(work())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
            if done:
                return task.result()
            async with asyncio.timeout(CHECK_TIMEOUT):
                await conn.execute("SELECT 1")
    except TimeoutError as exc:
        raise psycopg.OperationalError("the lock's connection did not answer") from exc
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
