"""Finding calls and ``callscribe import``, for
:class:`~callscribe.store.postgres.PostgresStore` (:mod:`sqlite_batch`'s on PostgreSQL).

A call's number is compared by ``callscribe_phone_key``, phones.phone_key written in SQL
(migration 6).  The text search reads the transcripts in Python (``batch_rows.says``),
so it folds case the same whatever locale the database was created with (``lower`` of
a database made with ``--no-locale`` leaves Cyrillic as it is).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from callscribe.domain import Call, CallEvent, CallState, Transcript
from callscribe.errors import StoreError
from callscribe.phones import phone_key
from callscribe.store import pg_jobs as q
from callscribe.store.base import CallFilter, Ingested, JobKind, RecordingFile
from callscribe.store.batch_rows import imported_state, says
from callscribe.store.codec import event_to_json
from callscribe.store.pg_admin import PgAdmin
from callscribe.store.pg_pool import Cursor
from callscribe.store.pg_versions import store_transcript
from callscribe.store.rows import call_from_row

TEXT_PAGE = 500  # calls read at a time while their transcripts are searched

# A call's time, ``at``: started, else ended (as the source wrote them, with their
# offsets), else received; compared as instants.
_FIND_SQL = (
    "SELECT * FROM (SELECT c.*, t.document, coalesce("
    "(c.event::json ->> 'started_at')::timestamptz, (c.event::json ->> 'ended_at')::timestamptz,"
    " c.received_at) AS at FROM calls c LEFT JOIN transcripts t ON t.call_id = c.id"
    " WHERE (%(ids)s::bigint[] IS NULL OR c.id = ANY(%(ids)s::bigint[]))"
    " AND (%(source)s::text IS NULL OR c.source = %(source)s)"
    " AND (%(state)s::text IS NULL OR c.state = %(state)s)"
    " AND (%(operator)s::text IS NULL OR c.event::json ->> 'operator_id' = %(operator)s)"
    " AND (%(number)s::text IS NULL"
    " OR callscribe_phone_key(c.event::json ->> 'client_number') = %(number)s"
    " OR callscribe_phone_key(c.event::json ->> 'line_number') = %(number)s)"
    " AND (NOT %(text)s OR t.call_id IS NOT NULL)) AS found"
    " WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR at < %(until)s)"
    " AND (%(after_at)s::timestamptz IS NULL OR (at, id) < (%(after_at)s, %(after_id)s))"
    " ORDER BY at DESC, id DESC LIMIT %(page)s"
)


class PgBatch(PgAdmin):
    """Finding calls and imports."""

    async def find_calls(self, where: CallFilter, limit: int | None = None) -> list[Call]:
        folded = where.text.casefold() if where.text else None
        params: dict[str, Any] = {
            "ids": list(where.call_ids) if where.call_ids else None,
            "source": where.source,
            "state": None if where.state is None else where.state.value,
            "operator": where.operator,
            "number": None if where.number is None else (phone_key(where.number) or "-"),
            "text": folded is not None,
            "since": where.since,
            "until": where.until,
            "after_at": None,
            "after_id": None,
            "page": TEXT_PAGE if folded is not None else limit,
        }
        found: list[Call] = []
        while True:
            rows = await self._db.select(_FIND_SQL, params)
            for row in rows:
                if folded is None or says(row["document"], folded):
                    found.append(call_from_row(row))
            enough = limit is not None and len(found) >= limit
            if folded is None or len(rows) < TEXT_PAGE or enough:
                return found[:limit]
            params["after_at"], params["after_id"] = rows[-1]["at"], rows[-1]["id"]

    async def import_call(
        self,
        event: CallEvent,
        recording: RecordingFile,
        transcript: Transcript | None,
        *,
        error: str | None = None,
        settings: Mapping[str, Any] | None = None,
        sinks: Sequence[str] = (),
    ) -> Ingested:
        state = imported_state(transcript, error)
        document = event_to_json(event)

        async def body(cur: Cursor, now: datetime) -> Ingested:
            call_id = await insert_call(cur, event, document, state, now)
            if call_id is None:
                return Ingested(call_id=await known_call(cur, event), created=False)
            await cur.execute(
                "INSERT INTO recordings (call_id, path, size, sha256, fetched_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (call_id, recording.path, recording.size, recording.sha256, now),
            )
            if transcript is not None:
                version = await store_transcript(cur, call_id, transcript, settings, now)
                await q.queue_deliveries(cur, call_id, sinks, now, version)
            else:
                reason = f"{JobKind.TRANSCRIBE.value}: {error}"
                await cur.execute("UPDATE calls SET error = %s WHERE id = %s", (reason, call_id))
                await cur.execute(
                    "INSERT INTO jobs (kind, call_id, state, attempts, run_at, error,"
                    " created_at, updated_at) VALUES (%s, %s, 'dead', 1, %s, %s, %s, %s)",
                    (JobKind.TRANSCRIBE.value, call_id, now, error, now, now),
                )
            return Ingested(call_id=call_id, created=True)

        return await self._db.transaction(body)


async def insert_call(
    cur: Cursor, event: CallEvent, document: str, state: CallState, now: datetime
) -> int | None:
    """A new call row in ``state`` (its waiting call parts deleted); None when the
    ``(source, external_id)`` is already stored.  Holds the call's key to the end of
    the transaction, so a part cannot slip in beside it."""
    await lock_call_key(cur, event.source, event.external_id)
    await cur.execute(
        "INSERT INTO calls (source, external_id, event, state, received_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source, external_id) DO NOTHING"
        " RETURNING id",
        (event.source, event.external_id, document, state.value, now, now),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    await cur.execute(
        "DELETE FROM call_parts WHERE source = %s AND external_id = %s",
        (event.source, event.external_id),
    )
    return int(row["id"])


async def known_call(cur: Cursor, event: CallEvent) -> int:
    await cur.execute(
        "SELECT id FROM calls WHERE source = %s AND external_id = %s",
        (event.source, event.external_id),
    )
    existing = await cur.fetchone()
    if existing is None:
        raise StoreError(f"call {event.external_id} vanished while being stored")
    return int(existing["id"])


async def lock_call_key(cur: Cursor, source: str, external_id: str) -> None:
    key = json.dumps([source, external_id], ensure_ascii=False)
    await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
