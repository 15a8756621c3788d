"""The test's database on either store: opened as a :class:`Store` (PostgreSQL's through
BlockingStore, i.e. the daemon's async code), or read and changed with SQL of the test's
own, for what no Store method does (a row planted, the audit table read, every table
searched for a number).  The ``database`` fixture (conftest.py) gives one per store."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from callscribe.store.base import Limits, Store
from callscribe.store.blocking import BlockingStore
from callscribe.store.codec import format_time, utc_now
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import FakeClock

LIMITS = Limits()


class Opener(Protocol):
    """Another connection to the test's database (a second node, a reopen)."""

    def __call__(self, *, clock: FakeClock | None = None, limits: Limits = ...) -> Store: ...


@dataclass
class Database:
    kind: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None = None
    target: PgTarget | None = None
    opened: list[Store] = field(default_factory=list)

    def open(self, *, clock: FakeClock | None = None, limits: Limits = LIMITS) -> Store:
        store: Store
        if self.target is None:
            store = SqliteStore(self.path, clock=clock or utc_now, limits=limits)
        else:
            target = self.target
            store = BlockingStore(
                lambda: PostgresStore.open(target, clock=clock, limits=limits, pool_size=2)
            )
        self.opened.append(store)
        return store

    @property
    def path(self) -> Path:
        assert self.sqlite_path is not None
        return self.sqlite_path

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement (``%s`` placeholders) and commit; the rows it returned."""
        if self.target is None:
            values = [format_time(p) if isinstance(p, datetime) else p for p in params]
            with _sqlite(self.path) as conn:
                rows = conn.execute(statement.replace("%s", "?"), values).fetchall()
            return [dict(row) for row in rows]
        with psycopg.connect(
            self.target.url, password=self.target.password, autocommit=True, row_factory=dict_row
        ) as pg:
            cursor = pg.execute(statement, list(params))
            return list(cursor.fetchall()) if cursor.description else []

    def every_table(self) -> str:
        """Every row of every table, as text: what a search for a number looks through."""
        if self.target is None:
            listed = "SELECT name AS t FROM sqlite_master WHERE type = 'table'"
            read: Callable[[str], str] = lambda t: f"SELECT * FROM {t}"  # noqa: E731, S608
        else:
            listed = "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'"
            read = lambda t: f"SELECT {t}::text AS row FROM {t}"  # noqa: E731, S608
        return "\n".join(
            repr(list(row.values()))
            for table in self.sql(listed)
            for row in self.sql(read(table["t"]))
        )

    def close(self) -> None:
        for store in self.opened:
            store.close()


def _sqlite(path: Path) -> contextlib.closing[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return contextlib.closing(conn)


def databases(kind: str, tmp_path: Path, postgres: Callable[[], Any]) -> Iterator[Database]:
    """The ``database`` fixture's body: a SQLite file, or a new PostgreSQL database on the
    session's server (``postgres()`` gets it, or skips)."""
    if kind == "sqlite":
        database = Database(kind, sqlite_path=tmp_path / "state" / "callscribe.db")
    else:
        cluster = postgres()
        database = Database(kind, target=PgTarget(cluster.database(), cluster.password))
    yield database
    database.close()
