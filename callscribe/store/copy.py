"""``callscribe store migrate``: copy a SQLite store into PostgreSQL, row for row.

Every table is copied with its ids (so idempotency keys, audit rows and admins' notes
that name call ids stay right), in one PostgreSQL transaction: a copy that fails leaves
the target as it was.  The SQLite file is read in one snapshot, and the counts of every
table are compared afterwards.  A target that already holds calls is refused unless
``replace`` empties it first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from psycopg import sql

from callscribe.errors import StoreError
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.rows import as_date, as_time
from callscribe.store.sqlite import SqliteStore

# Parents before children (foreign keys).
TABLES = (
    "calls",
    "recordings",
    "transcripts",
    "deliveries",
    "jobs",
    "audit",
    "call_parts",
    "backfill_days",
)
IDENTITY_TABLES = ("calls", "jobs", "audit")
Converter = Callable[[Any], Any]
CONVERTERS: dict[str, Converter] = {
    "timestamp with time zone": as_time,
    "date": as_date,
}


async def copy_to_postgres(
    source: Path, target: PgTarget, *, replace: bool, say: Callable[[str], None]
) -> dict[str, int]:
    """Copy; returns the rows per table (the same on both sides, or StoreError)."""
    SqliteStore(source).close()  # checked, and migrated to this version's schema
    await (await PostgresStore.open(target, pool_size=2)).aclose()  # the same, there
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    try:
        reader.execute("BEGIN")  # one snapshot for every table
        conn = await target.connect()
        try:
            async with conn.transaction():
                cur = conn.cursor()
                await _make_room(cur, replace)
                for table in TABLES:
                    count = await _copy_table(reader, cur, table)
                    say(f"{table}: {count} rows")
                for table in IDENTITY_TABLES:
                    await cur.execute(
                        sql.SQL(
                            "SELECT setval(pg_get_serial_sequence({t}, 'id'),"
                            " coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
                        ).format(t=sql.Literal(table), table=sql.Identifier(table))
                    )
                counts = await _verify(reader, cur)
        finally:
            await conn.close()
    finally:
        reader.close()
    return counts


async def _make_room(cur: Any, replace: bool) -> None:
    await cur.execute("SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM audit) AS n")
    row = await cur.fetchone()
    if row["n"] == 0:
        return
    if not replace:
        raise StoreError(
            f"the target database already holds {row['n']} calls and audit rows; "
            "give --replace to delete them first (or name an empty database)"
        )
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)
    await cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


async def _copy_table(reader: sqlite3.Connection, cur: Any, table: str) -> int:
    await cur.execute(
        "SELECT column_name AS c, data_type AS t FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    types = {row["c"]: row["t"] for row in await cur.fetchall()}
    columns = [r[1] for r in reader.execute(f"PRAGMA table_info({table})")]
    missing = [c for c in columns if c not in types]
    if missing:
        raise StoreError(f"{table}: columns {missing} have no place in the PostgreSQL schema")
    convert = [CONVERTERS.get(types[c]) for c in columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    count = 0
    async with cur.copy(statement) as copy:
        for row in _rows(reader, table, columns):
            await copy.write_row(
                [v if f is None or v is None else f(v) for f, v in zip(convert, row, strict=True)]
            )
            count += 1
    return count


def _rows(reader: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in columns)  # names from PRAGMA table_info, quoted
    yield from reader.execute(f'SELECT {names} FROM "{table}"')  # noqa: S608


async def _verify(reader: sqlite3.Connection, cur: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in TABLES:
        (expected,) = reader.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
        await cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table)))
        row = await cur.fetchone()
        if row["n"] != expected:
            raise StoreError(f"{table}: {expected} rows in SQLite but {row['n']} copied")
        counts[table] = int(expected)
    return counts
