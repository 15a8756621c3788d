"""Erasing calls, for :class:`~callscribe.store.sqlite.SqliteStore`: finding where a
phone number is, deleting whole calls with everything stored about them, and leaving
no copy of the deleted bytes in the database or its WAL (reliability.md R-PII-1, R-PII-5).

Deleting a call deletes, through ``ON DELETE CASCADE``, its recording row, transcripts and
versions, deliveries (with what sinks saved), jobs (with their errors) and retranscribe
items.  ``secure_delete`` overwrites what is deleted; the WAL, which still holds the pages
as they were, is checkpointed into the database and truncated afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from callscribe.domain import CallState
from callscribe.store.base import ERASED_KINDS, Erased, NumberTraces
from callscribe.store.batch_rows import ERASED_TABLES, number_key
from callscribe.store.codec import format_time
from callscribe.store.sqlite_admin import audit
from callscribe.store.sqlite_batch import SqliteBatch

# Rows of each kind, by the call they belong to; ``?`` is a JSON array of call ids.
_KIND_SQL = {
    kind: f"SELECT {column} FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))"  # noqa: S608 - names from ERASED_TABLES
    for kind, (table, column) in ERASED_TABLES.items()
}


class SqliteErasure(SqliteBatch):
    """Where a number is, and erasing calls."""

    def number_traces(self, number: str) -> NumberTraces:
        key = number_key(number)
        calls = self._select(
            "SELECT id FROM calls WHERE callscribe_holds(event, ?) ORDER BY id", (key,)
        )
        parts = self._select(
            "SELECT count(*) FROM call_parts WHERE callscribe_holds(data, ?)"
            " OR callscribe_holds(external_id, ?)",
            (key, key),
        )
        said = self._select(
            "SELECT DISTINCT call_id FROM (SELECT call_id, document FROM transcripts"
            " UNION ALL SELECT call_id, document FROM transcript_versions)"
            " WHERE callscribe_holds(document, ?) ORDER BY call_id",
            (key,),
        )
        own = {int(row[0]) for row in calls}
        return NumberTraces(
            call_ids=tuple(sorted(own)),
            call_parts=int(parts[0][0]),
            mentioned_in=tuple(int(row[0]) for row in said if int(row[0]) not in own),
        )

    def finished_calls(self, finished_before: datetime, limit: int, after_id: int = 0) -> list[int]:
        rows = self._select(
            "SELECT id FROM calls WHERE state IN (?, ?) AND updated_at < ? AND id > ?"
            " ORDER BY id LIMIT ?",
            (CallState.DONE.value, CallState.FAILED.value, format_time(finished_before),
             after_id, limit),
        )  # fmt: skip
        return [int(row[0]) for row in rows]

    def erasure_counts(self, call_ids: Sequence[int]) -> Mapping[str, int]:
        ids = json.dumps([int(i) for i in call_ids])
        with self._lock:
            return {
                kind: len(self._conn.execute(sql, (ids,)).fetchall())
                for kind, sql in _KIND_SQL.items()
            }

    def erase_calls(self, call_ids: Sequence[int], reason: str) -> Erased:
        wanted = json.dumps(sorted({int(i) for i in call_ids}))
        with self._write() as (conn, now):
            busy = _column(
                conn,
                "SELECT DISTINCT call_id FROM jobs WHERE state = 'running'"
                " AND call_id IN (SELECT value FROM json_each(?)) ORDER BY call_id",
                wanted,
            )
            ids = [i for i in _column(conn, _KIND_SQL["call"] + " ORDER BY id", wanted)
                   if i not in busy]  # fmt: skip
            erasing = json.dumps(ids)
            found = {kind: _column(conn, sql, erasing) for kind, sql in _KIND_SQL.items()}
            keys = tuple(
                str(key)
                for key in _column(
                    conn,
                    "SELECT idempotency_key FROM deliveries"
                    " WHERE call_id IN (SELECT value FROM json_each(?))",
                    erasing,
                )
            )
            conn.execute(
                "DELETE FROM calls WHERE id IN (SELECT value FROM json_each(?))", (erasing,)
            )
            for kind in ERASED_KINDS:
                audit(conn, now, kind, sorted(set(found[kind])), reason, count=len(found[kind]))
        emptied = self._checkpoint() if ids else True
        return Erased(
            calls=tuple(ids),
            busy=tuple(busy),
            counts={kind: len(found[kind]) for kind in ERASED_KINDS},
            delivery_keys=keys,
            wal_emptied=emptied,
        )

    def erase_call_parts(self, number: str, reason: str) -> int:
        key = number_key(number)
        with self._write() as (conn, now):
            deleted = conn.execute(
                "DELETE FROM call_parts WHERE callscribe_holds(data, ?)"
                " OR callscribe_holds(external_id, ?) RETURNING 1",
                (key, key),
            ).fetchall()
            audit(conn, now, "call_part", [], reason, count=len(deleted))
        if deleted:
            self._checkpoint()
        return len(deleted)


def _column(conn: sqlite3.Connection, sql: str, ids: str) -> list[Any]:
    """The first column of ``sql`` run with the JSON array ``ids``."""
    return [row[0] for row in conn.execute(sql, (ids,))]
