"""The read side of :class:`~callscribe.store.sqlite.SqliteStore`: rows back to values."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from callscribe.domain import Call, CallState, Delivery, DeliveryState, Recording, Transcript
from callscribe.errors import StoreError
from callscribe.store.base import CallFacts, CallParts, Job, JobKind, JobState
from callscribe.store.codec import format_time, parse_time
from callscribe.store.rows import (
    call_from_row,
    delivery_from_row,
    job_from_row,
    parts_from_rows,
    recording_from_row,
)
from callscribe.transcription.render import from_json_dict


class SqliteReads:
    """Queries that change nothing; each is one statement, so it sees one snapshot."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.Lock,
        name: str,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._name = name

    def call(self, call_id: int) -> Call:
        """The call with this id; KeyError when there is none."""
        rows = self._select("SELECT * FROM calls WHERE id = ?", (call_id,))
        if not rows:
            raise KeyError(f"no call with id {call_id}")
        return call_from_row(rows[0])

    def recording(self, call_id: int) -> Recording | None:
        """The recording fetched for the call; its file may be gone (see call_facts)."""
        rows = self._select("SELECT * FROM recordings WHERE call_id = ?", (call_id,))
        if not rows:
            return None
        return recording_from_row(rows[0])

    def transcript(self, call_id: int) -> Transcript | None:
        rows = self._select("SELECT document FROM transcripts WHERE call_id = ?", (call_id,))
        return from_json_dict(json.loads(rows[0][0])) if rows else None

    def deliveries(
        self,
        call_id: int | None = None,
        state: DeliveryState | None = None,
        sink: str | None = None,
    ) -> list[Delivery]:
        """Deliveries by call and sink; each filter given narrows the list."""
        rows = self._select(
            "SELECT * FROM deliveries WHERE (? IS NULL OR call_id = ?)"
            " AND (? IS NULL OR state = ?) AND (? IS NULL OR sink = ?) ORDER BY call_id, sink",
            (call_id, call_id, _value(state), _value(state), sink, sink),
        )
        return [delivery_from_row(row) for row in rows]

    def calls(
        self, state: CallState | None = None, limit: int = 100, source: str | None = None
    ) -> list[Call]:
        """The most recently received calls first; each filter given narrows the list."""
        rows = self._select(
            "SELECT * FROM calls WHERE (? IS NULL OR state = ?) AND (? IS NULL OR source = ?)"
            " ORDER BY received_at DESC, id DESC LIMIT ?",
            (_value(state), _value(state), source, source, limit),
        )
        return [call_from_row(row) for row in rows]

    def call_facts(self, call_ids: Sequence[int]) -> dict[int, CallFacts]:
        """Transcript duration, recording purge time and number of deliveries of these
        calls (unknown ids are left out), without loading whole transcripts."""
        rows = self._select(
            "SELECT c.id, json_extract(t.document, '$.duration'), r.purged_at,"
            " (SELECT count(*) FROM deliveries d WHERE d.call_id = c.id) FROM calls c"
            " LEFT JOIN transcripts t ON t.call_id = c.id"
            " LEFT JOIN recordings r ON r.call_id = c.id"
            " WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps([int(i) for i in call_ids]),),
        )
        return {
            int(row[0]): CallFacts(
                duration=None if row[1] is None else float(row[1]),
                recording_purged_at=None if row[2] is None else parse_time(row[2]),
                deliveries=int(row[3]),
            )
            for row in rows
        }

    def call_parts(self, received_before: datetime | None = None) -> list[CallParts]:
        before = None if received_before is None else format_time(received_before)
        rows = self._select(
            "SELECT p.* FROM call_parts p JOIN (SELECT source, external_id,"
            " min(received_at) AS first FROM call_parts GROUP BY source, external_id"
            " HAVING ? IS NULL OR first < ?) f USING (source, external_id)"
            " ORDER BY f.first, p.source, p.external_id, p.part",
            (before, before),
        )
        return parts_from_rows(rows)

    def jobs(self, state: JobState | None = None, kind: JobKind | None = None) -> list[Job]:
        """Jobs in the order they were created."""
        rows = self._select(
            "SELECT * FROM jobs WHERE (? IS NULL OR state = ?) AND (? IS NULL OR kind = ?)"
            " ORDER BY id",
            (_value(state), _value(state), _value(kind), _value(kind)),
        )
        return [job_from_row(row) for row in rows]

    def job_counts(self) -> Mapping[tuple[JobKind, JobState], int]:
        """How many jobs of each kind are in each state; every pair is present, zeros too,
        so a metrics exporter can report a gauge going back to 0."""
        counts = {(kind, state): 0 for kind in JobKind for state in JobState}
        for row in self._select("SELECT kind, state, count(*) FROM jobs GROUP BY kind, state"):
            counts[JobKind(row[0]), JobState(row[1])] = int(row[2])
        return counts

    def oldest_queued_at(self) -> datetime | None:
        """The earliest ``run_at`` of the queued jobs (None when none is queued).

        ``now - oldest_queued_at()`` is how far the workers are behind; a time in the
        future means nothing is due before then.
        """
        rows = self._select("SELECT min(run_at) FROM jobs WHERE state = 'queued'")
        value = rows[0][0]
        return None if value is None else parse_time(value)

    def _select(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self._name}: {exc}") from exc


def _value(member: CallState | DeliveryState | JobState | JobKind | None) -> str | None:
    return None if member is None else member.value
