"""The admin and retention half of :class:`~callscribe.store.postgres.PostgresStore`:
:mod:`callscribe.store.sqlite_admin` in PostgreSQL's words (the same audit rows).

Deleted rows stay in PostgreSQL's files until (auto)vacuum reclaims their space, as
dead tuples; docs/multi-node.md says how to keep that short (R-PII-1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from callscribe.domain import CallState, DeliveryState, Recording
from callscribe.store import pg_jobs as q
from callscribe.store.base import JobKind
from callscribe.store.pg_pool import Cursor
from callscribe.store.pg_reads import PgReads
from callscribe.store.rows import as_date, recording_from_row


class PgAdmin(PgReads):
    async def revive_delivery(self, call_id: int, sink: str) -> bool:
        async def body(cur: Cursor, now: datetime) -> bool:
            await cur.execute(
                "SELECT d.state, EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = d.call_id)"
                " AS recorded, EXISTS (SELECT 1 FROM transcripts t WHERE t.call_id = d.call_id)"
                " AS transcribed FROM deliveries d WHERE d.call_id = %s AND d.sink = %s"
                " FOR UPDATE OF d",
                (call_id, sink),
            )
            row = await cur.fetchone()
            if row is None or row["state"] != DeliveryState.DEAD.value:
                return False
            if row["recorded"] and not row["transcribed"]:
                raise ValueError(
                    f"call {call_id}: its transcript was deleted by the retention policy, "
                    "so there is nothing left to deliver"
                )
            await cur.execute(
                "UPDATE deliveries SET state = %s, attempts = 0, error = NULL"
                " WHERE call_id = %s AND sink = %s",
                (DeliveryState.PENDING.value, call_id, sink),
            )
            await q.requeue(cur, JobKind.DELIVER, call_id, sink, now)
            back = CallState.TRANSCRIBED if row["recorded"] else CallState.NO_RECORDING
            await cur.execute(
                "UPDATE calls SET state = %s, updated_at = %s WHERE id = %s AND state = %s",
                (back.value, now, call_id, CallState.DONE.value),
            )
            return True

        return await self._db.transaction(body)

    async def revive_call(self, call_id: int, *, refetch: bool = False) -> JobKind | None:
        async def body(cur: Cursor, now: datetime) -> JobKind | None:
            await cur.execute("SELECT state FROM calls WHERE id = %s FOR UPDATE", (call_id,))
            call = await cur.fetchone()
            if call is None:
                raise KeyError(f"no call with id {call_id}")
            if call["state"] != CallState.FAILED.value:
                return None
            await cur.execute(
                "SELECT j.kind, r.call_id IS NOT NULL AND r.purged_at IS NULL AS kept"
                " FROM jobs j LEFT JOIN recordings r ON r.call_id = j.call_id"
                " WHERE j.call_id = %s AND j.kind IN (%s, %s) AND j.state = 'dead'"
                " ORDER BY j.id DESC LIMIT 1",
                (call_id, JobKind.FETCH.value, JobKind.TRANSCRIBE.value),
            )
            last = await cur.fetchone()
            kind = JobKind.FETCH if last is None else JobKind(last["kind"])
            if kind is JobKind.TRANSCRIBE and (refetch or not last or not last["kept"]):
                kind = JobKind.FETCH  # no file left to transcribe: fetch it again first
            await q.requeue(cur, kind, call_id, None, now)
            state = CallState.RECEIVED if kind is JobKind.FETCH else CallState.FETCHED
            await cur.execute(
                "UPDATE calls SET state = %s, error = NULL, updated_at = %s WHERE id = %s",
                (state.value, now, call_id),
            )
            return kind

        return await self._db.transaction(body)

    async def recordings_to_purge(
        self, limit: int, finished_before: datetime | None = None
    ) -> list[Recording]:
        rows = await self._db.select(
            "SELECT r.* FROM recordings r JOIN calls c ON c.id = r.call_id"
            " WHERE r.purged_at IS NULL AND (c.state = %s"
            " OR (c.state = %s AND (%s::timestamptz IS NULL OR c.updated_at < %s)))"
            " ORDER BY r.call_id LIMIT %s",
            (CallState.FAILED.value, CallState.DONE.value, finished_before, finished_before, limit),
        )
        return [recording_from_row(row) for row in rows]

    async def mark_recordings_purged(self, call_ids: Sequence[int], reason: str) -> int:
        async def body(cur: Cursor, now: datetime) -> int:
            await cur.execute(
                "UPDATE recordings SET purged_at = %s WHERE purged_at IS NULL"
                " AND call_id = ANY(%s::bigint[]) RETURNING call_id",
                (now, [int(i) for i in call_ids]),
            )
            marked = sorted(int(row["call_id"]) for row in await cur.fetchall())
            await _audit(cur, now, "recording", marked, reason)
            return len(marked)

        return await self._db.transaction(body)

    async def purge_transcripts(self, older_than: datetime, reason: str) -> int:
        async def body(cur: Cursor, now: datetime) -> int:
            await cur.execute(
                "DELETE FROM transcripts WHERE call_id IN (SELECT id FROM calls"
                " WHERE state = %s AND updated_at < %s) RETURNING call_id",
                (CallState.DONE.value, older_than),
            )
            deleted = sorted(int(row["call_id"]) for row in await cur.fetchall())
            await _audit(cur, now, "transcript", deleted, reason)
            return len(deleted)

        return await self._db.transaction(body)

    async def backfilled_days(self, source: str) -> set[date]:
        rows = await self._db.select("SELECT day FROM backfill_days WHERE source = %s", (source,))
        return {as_date(row["day"]) for row in rows}

    async def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            await cur.execute(
                "INSERT INTO backfill_days (source, day, calls, new_calls, finished_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, day) DO UPDATE SET"
                " calls = excluded.calls, new_calls = excluded.new_calls,"
                " finished_at = excluded.finished_at",
                (source, day, calls, new_calls, now),
            )

        await self._db.transaction(body)

    async def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        rows = await self._db.select(
            "SELECT external_id FROM calls WHERE source = %s AND external_id = ANY(%s::text[])",
            (source, list(external_ids)),
        )
        return {row["external_id"] for row in rows}


async def _audit(
    cur: Cursor, now: datetime, category: str, call_ids: Sequence[int], reason: str
) -> None:
    if call_ids:
        await cur.execute(
            "INSERT INTO audit (at, category, count, object_ids, reason)"
            " VALUES (%s, %s, %s, %s, %s)",
            (now, category, len(call_ids), json.dumps(list(call_ids)), reason),
        )
