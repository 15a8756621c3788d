"""Erasing calls, for :class:`~callscribe.store.postgres.PostgresStore`
(:mod:`sqlite_erasure`'s on PostgreSQL; the contract is the Store protocol's).

Where a number is: PostgreSQL narrows the rows down to those whose digits, run
together, hold the number's key; ``phones.holds`` then decides on each, exactly as the
SQLite store does (a number is found in any written form, ``raw`` fields included).

What is deleted is gone from every table at the commit.  The bytes stay in the table
files as dead rows until (auto)vacuum reuses the space, in the server's WAL until it is
recycled, and in backups and WAL archives for as long as those are kept: docs/batch.md
says what the operator does about each.  ``Erased.wal_emptied`` is always True here
(there is no WAL file of callscribe's to empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow

from callscribe.domain import CallState
from callscribe.phones import holds
from callscribe.store.base import ERASED_KINDS, Erased, NumberTraces
from callscribe.store.batch_rows import ERASED_TABLES, number_key
from callscribe.store.pg_admin import audit
from callscribe.store.pg_pool import Cursor
from callscribe.store.pg_runs import PgRuns

# Rows of each kind, by the call they belong to; ``%s`` is an array of call ids.
_KIND_SQL = {
    kind: f"SELECT {column} AS call_id FROM {table} WHERE {column} = ANY(%s::bigint[])"  # noqa: S608 - names from ERASED_TABLES
    for kind, (table, column) in ERASED_TABLES.items()
}


def _digits_hold(column: str) -> str:
    """SQL: the digits of ``column`` run together hold the key (``%s``): every row that
    writes the number does, a few others too."""
    return f"strpos(regexp_replace({column}, '[^0-9]', '', 'g'), %s) > 0"


class PgErasure(PgRuns):
    """Where a number is, and erasing calls."""

    async def number_traces(self, number: str) -> NumberTraces:
        key = number_key(number)
        calls = await self._db.select(
            f"SELECT id, event FROM calls WHERE {_digits_hold('event')} ORDER BY id",  # noqa: S608
            (key,),
        )
        said = await self._db.select(
            "SELECT call_id, document FROM (SELECT call_id, document FROM transcripts"  # noqa: S608
            " UNION ALL SELECT call_id, document FROM transcript_versions) AS every_version"
            f" WHERE {_digits_hold('document')} ORDER BY call_id",
            (key,),
        )
        own = {int(row["id"]) for row in calls if holds(row["event"], key)}
        mentioned = {int(row["call_id"]) for row in said if holds(row["document"], key)}
        return NumberTraces(
            call_ids=tuple(sorted(own)),
            call_parts=len(_parts_holding(await self._db.select(_PARTS_SQL, (key, key)), key)),
            mentioned_in=tuple(sorted(mentioned - own)),
        )

    async def finished_calls(
        self, finished_before: datetime, limit: int, after_id: int = 0
    ) -> list[int]:
        rows = await self._db.select(
            "SELECT id FROM calls WHERE state IN (%s, %s) AND updated_at < %s AND id > %s"
            " ORDER BY id LIMIT %s",
            (CallState.DONE.value, CallState.FAILED.value, finished_before, after_id, limit),
        )
        return [int(row["id"]) for row in rows]

    async def erasure_counts(self, call_ids: Sequence[int]) -> Mapping[str, int]:
        async def body(cur: Cursor, _: datetime) -> Mapping[str, int]:
            return {k: len(v) for k, v in (await _found(cur, list(call_ids))).items()}

        return await self._db.transaction(body)

    async def erase_calls(self, call_ids: Sequence[int], reason: str) -> Erased:
        wanted = sorted({int(i) for i in call_ids})

        async def body(cur: Cursor, now: datetime) -> Erased:
            # The jobs locked, so no worker claims one of them until the calls are gone.
            await cur.execute(
                "SELECT call_id, state FROM jobs WHERE call_id = ANY(%s::bigint[])"
                " ORDER BY id FOR UPDATE",
                (wanted,),
            )
            busy = sorted(
                {int(r["call_id"]) for r in await cur.fetchall() if r["state"] == "running"}
            )
            ids = [i for i in wanted if i not in busy]
            found = await _found(cur, ids)
            await cur.execute(
                "SELECT idempotency_key FROM deliveries WHERE call_id = ANY(%s::bigint[])",
                (ids,),
            )
            keys = tuple(str(row["idempotency_key"]) for row in await cur.fetchall())
            await cur.execute("DELETE FROM calls WHERE id = ANY(%s::bigint[])", (ids,))
            for kind in ERASED_KINDS:
                await audit(
                    cur, now, kind, sorted(set(found[kind])), reason, count=len(found[kind])
                )
            return Erased(
                calls=tuple(found["call"]),
                busy=tuple(busy),
                counts={kind: len(found[kind]) for kind in ERASED_KINDS},
                delivery_keys=keys,
            )

        return await self._db.transaction(body)

    async def erase_call_parts(self, number: str, reason: str) -> int:
        key = number_key(number)

        async def body(cur: Cursor, now: datetime) -> int:
            await cur.execute(_PARTS_SQL + " FOR UPDATE", (key, key))
            doomed = _parts_holding(await cur.fetchall(), key)
            for part in doomed:
                await cur.execute(
                    "DELETE FROM call_parts WHERE source = %s AND external_id = %s AND part = %s",
                    part,
                )
            await audit(cur, now, "call_part", [], reason, count=len(doomed))
            return len(doomed)

        return await self._db.transaction(body)


_PARTS_SQL = (
    "SELECT source, external_id, part, data FROM call_parts"  # noqa: S608 - no values in it
    f" WHERE {_digits_hold('data')} OR {_digits_hold('external_id')}"
)


def _parts_holding(rows: Sequence[DictRow], key: str) -> list[tuple[str, str, str]]:
    return [
        (row["source"], row["external_id"], row["part"])
        for row in rows
        if holds(row["data"], key) or holds(row["external_id"], key)
    ]


async def _found(cur: Cursor, call_ids: list[int]) -> dict[str, list[Any]]:
    """The rows of each kind these calls have, as the call id of each row (in id order
    for calls)."""
    found: dict[str, list[Any]] = {}
    for kind, sql in _KIND_SQL.items():
        await cur.execute(sql + " ORDER BY 1", (call_ids,))
        found[kind] = [int(row["call_id"]) for row in await cur.fetchall()]
    return found
