"""The PostgreSQL connection side of the store: a psycopg pool, transactions retried over
lost connections, readiness, and a clock that agrees with the server's.

**Retries.** A transaction that fails because the connection broke, the server is
restarting, or it lost a deadlock is rolled back as a whole, so it is run again, with
backoff, for up to :data:`RETRY_SECONDS`; then :class:`StoreError` (a webhook gets 503
and its sender retries; a worker waits and claims again).  A commit whose answer was
lost may have happened: running it again is safe, because every write is idempotent or
checks that its claim still holds.

**Readiness.** :meth:`PgDatabase.ready` is False from the first failure to reach the
server until a query succeeds again; a ping on a connection of its own (a pool that is
only busy is not an outage) keeps it current every few seconds and measures the
server's clock.

**Time.** Leases written by one node are read by the sweeper of another, so all nodes
must agree on the time: the store's clock is this machine's UTC clock corrected by its
measured offset from the server's (an NTP-less machine two minutes off would otherwise
sweep other nodes' live jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from callscribe.errors import StoreError
from callscribe.store.codec import utc_now

log = logging.getLogger(__name__)

T = TypeVar("T")
Cursor = AsyncCursor[DictRow]
Body = Callable[[Cursor, datetime], Awaitable[T]]

RETRY_SECONDS = 10.0  # under the 15 s webhook senders wait for an answer
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 3.0)
CONNECT_TIMEOUT = 5
PING_SECONDS = 2.0
# Every session: UTC (times come back aware, in UTC), commits wait for the WAL to be
# flushed (a webhook is acknowledged only after that, R-WH-6), whatever the server's
# defaults; a statement stuck on a lock fails instead of hanging the daemon.
SESSION_OPTIONS = "-c timezone=UTC -c synchronous_commit=on -c lock_timeout=30s"


@dataclass(frozen=True, slots=True)
class PgTarget:
    """Where the database is: a ``postgresql://user@host:port/db`` URL and the password
    kept apart (never in the URL, so the URL can be logged)."""

    url: str
    password: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """host:port/database, for messages."""
        parts = urlsplit(self.url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"

    def connect_kwargs(self, **extra: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": "callscribe",
            "options": SESSION_OPTIONS,
            # The client notices a dead server (or network) within about 20 s.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            **extra,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    async def connect(self, **extra: Any) -> AsyncConnection[DictRow]:
        """One connection outside the pool (migrations, the running sources' locks)."""
        try:
            return await AsyncConnection.connect(
                self.url, row_factory=dict_row, **self.connect_kwargs(**extra)
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.name}: {exc}") from exc


class PgDatabase:
    """A pool of connections to one database, and transactions on it."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        target: PgTarget,
        clock: Callable[[], datetime] | None,
    ) -> None:
        self._pool = pool
        self.target = target
        self._clock = clock
        self._offset = timedelta()  # the server's clock minus ours
        self._ready = True
        self._ping: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, target: PgTarget, *, clock: Callable[[], datetime] | None, max_size: int
    ) -> PgDatabase:
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            target.url,
            kwargs=target.connect_kwargs(row_factory=dict_row),
            connection_class=AsyncConnection[DictRow],
            min_size=1,
            max_size=max_size,
            timeout=RETRY_SECONDS / 2,
            reconnect_timeout=24 * 3600.0,  # keep trying through an outage of any length
            name=f"callscribe {target.name}",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
        except psycopg.Error as exc:
            await pool.close()
            raise StoreError(
                f"cannot connect to PostgreSQL at {target.name}: {_first_line(exc)}; check "
                "[store] url and password, and that the server accepts this machine"
            ) from exc
        database = cls(pool, target, clock)
        await database.measure_clock()
        database._ping = asyncio.create_task(database._keep_pinging(), name="callscribe-pg-ping")
        return database

    def now(self) -> datetime:
        return self._clock() if self._clock is not None else utc_now() + self._offset

    def ready(self) -> bool:
        return self._ready

    async def transaction(self, body: Body[T]) -> T:
        """Run ``body(cursor, now)`` in one transaction, committed when it returns."""
        deadline = time.monotonic() + RETRY_SECONDS
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    result = await body(conn.cursor(), self.now())
            except psycopg.OperationalError as exc:
                retry = delay is not None and time.monotonic() + delay < deadline
                self._failed(exc, attempt, retry)
                if delay is None or not retry:
                    raise StoreError(
                        f"PostgreSQL at {self.target.name}: {_first_line(exc)}"
                    ) from exc
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
                continue
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL at {self.target.name}: {_first_line(exc)}") from exc
            self._up()
            return result
        raise AssertionError("unreachable: the last attempt raises or returns")

    async def select(self, sql: str, params: tuple[Any, ...] = ()) -> list[DictRow]:
        async def query(cur: Cursor, _: datetime) -> list[DictRow]:
            await cur.execute(sql, params)
            return await cur.fetchall()

        return await self.transaction(query)

    async def measure_clock(self, conn: AsyncConnection[DictRow] | None = None) -> None:
        """Measure the server's clock against ours (on ``conn``, or a pooled one)."""
        async with contextlib.AsyncExitStack() as stack:
            if conn is None:
                conn = await stack.enter_async_context(self._pool.connection())
            before = time.time()
            cursor = await conn.execute("SELECT clock_timestamp() AS now")
            row = await cursor.fetchone()
            after = time.time()
        assert row is not None  # noqa: S101 - SELECT without FROM returns one row
        ours = utc_now() - timedelta(seconds=(after - before) / 2)
        offset = row["now"] - ours
        if abs(offset.total_seconds()) > 5 and abs((offset - self._offset).total_seconds()) > 1:
            log.warning(
                "this machine's clock is %.1f s off the PostgreSQL server's; callscribe uses "
                "the server's time for leases, but keep clocks in sync (NTP)",
                -offset.total_seconds(),
            )
        self._offset = offset

    async def _keep_pinging(self) -> None:
        """Readiness from a connection of its own: a pool that is merely busy is not an
        unreachable server."""
        conn: AsyncConnection[DictRow] | None = None
        try:
            while True:
                await asyncio.sleep(PING_SECONDS)
                try:
                    if conn is None or conn.closed:
                        conn = await AsyncConnection.connect(
                            self.target.url,
                            row_factory=dict_row,
                            autocommit=True,
                            **self.target.connect_kwargs(),
                        )
                    async with asyncio.timeout(PING_SECONDS * 2):
                        await self.measure_clock(conn)
                except (psycopg.Error, TimeoutError) as exc:
                    self._failed(exc, 0, retry=True)
                    await _close(conn)
                    conn = None
                else:
                    self._up()
        finally:
            await _close(conn)

    def _failed(self, exc: Exception, attempt: int, retry: bool) -> None:
        if isinstance(exc, PoolTimeout):
            return  # busy, or the server is away: the ping tells which
        lost = not isinstance(exc, psycopg.errors.TransactionRollback)
        if lost and self._ready:
            log.error(
                "PostgreSQL at %s is unreachable (%s); retrying, not ready until it answers",
                self.target.name,
                _first_line(exc),
            )
            self._ready = False
        elif not lost:
            log.info("transaction rolled back (%s); attempt %d", _first_line(exc), attempt + 1)

    def _up(self) -> None:
        if not self._ready:
            log.warning("PostgreSQL at %s answers again", self.target.name)
            self._ready = True

    async def close(self) -> None:
        if self._ping is not None:
            self._ping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ping
        await self._pool.close()


async def _close(conn: AsyncConnection[DictRow] | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            await conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
