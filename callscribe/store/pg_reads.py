"""The read side of :class:`~callscribe.store.postgres.PostgresStore`: the queries of
:mod:`callscribe.store.sqlite_reads` in PostgreSQL's words."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from callscribe.domain import Call, CallState, Delivery, DeliveryState, Recording, Transcript
from callscribe.store.base import CallFacts, CallParts, Job, JobKind, JobState
from callscribe.store.pg_pool import PgDatabase
from callscribe.store.rows import (
    as_time,
    call_from_row,
    delivery_from_row,
    job_from_row,
    optional_time,
    parts_from_rows,
    recording_from_row,
)
from callscribe.transcription.render import from_json_dict


class PgReads:
    """Queries that change nothing; each is one statement, so it sees one snapshot."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def call(self, call_id: int) -> Call:
        """The call with this id; KeyError when there is none."""
        rows = await self._db.select("SELECT * FROM calls WHERE id = %s", (call_id,))
        if not rows:
            raise KeyError(f"no call with id {call_id}")
        return call_from_row(rows[0])

    async def recording(self, call_id: int) -> Recording | None:
        rows = await self._db.select("SELECT * FROM recordings WHERE call_id = %s", (call_id,))
        return recording_from_row(rows[0]) if rows else None

    async def transcript(self, call_id: int) -> Transcript | None:
        rows = await self._db.select(
            "SELECT document FROM transcripts WHERE call_id = %s", (call_id,)
        )
        return from_json_dict(json.loads(rows[0]["document"])) if rows else None

    async def deliveries(
        self,
        call_id: int | None = None,
        state: DeliveryState | None = None,
        sink: str | None = None,
    ) -> list[Delivery]:
        rows = await self._db.select(
            "SELECT * FROM deliveries WHERE (%s::bigint IS NULL OR call_id = %s)"
            " AND (%s::text IS NULL OR state = %s) AND (%s::text IS NULL OR sink = %s)"
            " ORDER BY call_id, sink",
            (call_id, call_id, _value(state), _value(state), sink, sink),
        )
        return [delivery_from_row(row) for row in rows]

    async def calls(
        self, state: CallState | None = None, limit: int = 100, source: str | None = None
    ) -> list[Call]:
        rows = await self._db.select(
            "SELECT * FROM calls WHERE (%s::text IS NULL OR state = %s)"
            " AND (%s::text IS NULL OR source = %s) ORDER BY received_at DESC, id DESC LIMIT %s",
            (_value(state), _value(state), source, source, limit),
        )
        return [call_from_row(row) for row in rows]

    async def call_facts(self, call_ids: Sequence[int]) -> dict[int, CallFacts]:
        rows = await self._db.select(
            "SELECT c.id, (t.document::json ->> 'duration')::float8 AS duration,"
            " r.purged_at, (SELECT count(*) FROM deliveries d WHERE d.call_id = c.id) AS n"
            " FROM calls c LEFT JOIN transcripts t ON t.call_id = c.id"
            " LEFT JOIN recordings r ON r.call_id = c.id WHERE c.id = ANY(%s::bigint[])",
            ([int(i) for i in call_ids],),
        )
        return {
            int(row["id"]): CallFacts(
                duration=None if row["duration"] is None else float(row["duration"]),
                recording_purged_at=optional_time(row["purged_at"]),
                deliveries=int(row["n"]),
            )
            for row in rows
        }

    async def call_parts(self, received_before: datetime | None = None) -> list[CallParts]:
        rows = await self._db.select(
            "SELECT p.* FROM call_parts p JOIN (SELECT source, external_id,"
            " min(received_at) AS first FROM call_parts GROUP BY source, external_id"
            " HAVING %s::timestamptz IS NULL OR min(received_at) < %s) f"
            " USING (source, external_id) ORDER BY f.first, p.source, p.external_id, p.part",
            (received_before, received_before),
        )
        return parts_from_rows(rows)

    async def jobs(self, state: JobState | None = None, kind: JobKind | None = None) -> list[Job]:
        rows = await self._db.select(
            "SELECT * FROM jobs WHERE (%s::text IS NULL OR state = %s)"
            " AND (%s::text IS NULL OR kind = %s) ORDER BY id",
            (_value(state), _value(state), _value(kind), _value(kind)),
        )
        return [job_from_row(row) for row in rows]

    async def job_counts(self) -> Mapping[tuple[JobKind, JobState], int]:
        counts = {(kind, state): 0 for kind in JobKind for state in JobState}
        rows = await self._db.select(
            "SELECT kind, state, count(*) AS n FROM jobs GROUP BY kind, state"
        )
        for row in rows:
            counts[JobKind(row["kind"]), JobState(row["state"])] = int(row["n"])
        return counts

    async def oldest_queued_at(self) -> datetime | None:
        rows = await self._db.select(
            "SELECT min(run_at) AS oldest FROM jobs WHERE state = 'queued'"
        )
        value = rows[0]["oldest"]
        return None if value is None else as_time(value)


def _value(member: CallState | DeliveryState | JobState | JobKind | None) -> str | None:
    return None if member is None else member.value
