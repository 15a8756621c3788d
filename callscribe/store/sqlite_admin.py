"""The admin and retention half of :class:`~callscribe.store.sqlite.SqliteStore`:
reviving dead work on an admin's word, and forgetting what the retention policy says
must go (reliability.md R-PII-1, R-PII-2).

Every deletion writes one row to the ``audit`` table in the same transaction: what was
deleted (category), how many, which calls (ids only) and why — never content, names or
numbers, so the audit trail is not personal data itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from callscribe.domain import CallState, DeliveryState, Recording
from callscribe.store import sqlite_jobs as q
from callscribe.store.base import JobKind
from callscribe.store.codec import format_time
from callscribe.store.rows import recording_from_row
from callscribe.store.sqlite_reads import SqliteReads

log = logging.getLogger(__name__)


class SqliteAdmin(SqliteReads):
    """Admin and retention methods of the store; see the protocol for their contracts."""

    def _write(self) -> contextlib.AbstractContextManager[tuple[sqlite3.Connection, str]]:
        """One write transaction and the time it started (provided by SqliteStore)."""
        raise NotImplementedError

    def revive_delivery(self, call_id: int, sink: str) -> bool:
        with self._write() as (conn, now):
            row = conn.execute(
                "SELECT d.state, EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = d.call_id),"
                " EXISTS (SELECT 1 FROM transcripts t WHERE t.call_id = d.call_id)"
                " FROM deliveries d WHERE d.call_id = ? AND d.sink = ?",
                (call_id, sink),
            ).fetchone()
            if row is None or row[0] != DeliveryState.DEAD.value:
                return False
            recorded, transcribed = bool(row[1]), bool(row[2])
            if recorded and not transcribed:
                # Delivering now would send "no transcript" for a call that had one.
                raise ValueError(
                    f"call {call_id}: its transcript was deleted by the retention policy, "
                    "so there is nothing left to deliver"
                )
            conn.execute(
                "UPDATE deliveries SET state = ?, attempts = 0, error = NULL"
                " WHERE call_id = ? AND sink = ?",
                (DeliveryState.PENDING.value, call_id, sink),
            )
            _requeue(conn, JobKind.DELIVER, call_id, sink, now)
            back = CallState.TRANSCRIBED if recorded else CallState.NO_RECORDING
            conn.execute(
                "UPDATE calls SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                (back.value, now, call_id, CallState.DONE.value),
            )
            return True

    def revive_call(self, call_id: int, *, refetch: bool = False) -> JobKind | None:
        with self._write() as (conn, now):
            call = conn.execute("SELECT state FROM calls WHERE id = ?", (call_id,)).fetchone()
            if call is None:
                raise KeyError(f"no call with id {call_id}")
            if call[0] != CallState.FAILED.value:
                return None
            last = conn.execute(
                "SELECT kind FROM jobs WHERE call_id = ? AND kind IN (?, ?) AND state = 'dead'"
                " ORDER BY id DESC LIMIT 1",
                (call_id, JobKind.FETCH.value, JobKind.TRANSCRIBE.value),
            ).fetchone()
            kind = JobKind.FETCH if last is None else JobKind(last[0])
            if kind is JobKind.TRANSCRIBE:
                stored = conn.execute(
                    "SELECT purged_at FROM recordings WHERE call_id = ?", (call_id,)
                ).fetchone()
                # No file left to transcribe: fetch it from the PBX again first.
                if refetch or stored is None or stored[0] is not None:
                    kind = JobKind.FETCH
            _requeue(conn, kind, call_id, None, now)
            state = CallState.RECEIVED if kind is JobKind.FETCH else CallState.FETCHED
            conn.execute(
                "UPDATE calls SET state = ?, error = NULL, updated_at = ? WHERE id = ?",
                (state.value, now, call_id),
            )
            return kind

    def recordings_to_purge(
        self, limit: int, finished_before: datetime | None = None
    ) -> list[Recording]:
        cutoff = format_time(finished_before) if finished_before is not None else None
        # A DONE call's updated_at is when it finished (see purge_transcripts).
        rows = self._select(
            "SELECT r.* FROM recordings r JOIN calls c ON c.id = r.call_id"
            " WHERE r.purged_at IS NULL AND (c.state = ?"
            " OR (c.state = ? AND (? IS NULL OR c.updated_at < ?)))"
            " ORDER BY r.call_id LIMIT ?",
            (CallState.FAILED.value, CallState.DONE.value, cutoff, cutoff, limit),
        )
        return [recording_from_row(row) for row in rows]

    def mark_recordings_purged(self, call_ids: Sequence[int], reason: str) -> int:
        with self._write() as (conn, now):
            rows = conn.execute(
                "UPDATE recordings SET purged_at = ? WHERE purged_at IS NULL"
                " AND call_id IN (SELECT value FROM json_each(?)) RETURNING call_id",
                (now, json.dumps([int(i) for i in call_ids])),
            ).fetchall()
            marked = sorted(int(row[0]) for row in rows)
            _audit(conn, now, "recording", marked, reason)
            return len(marked)

    def purge_transcripts(self, older_than: datetime, reason: str) -> int:
        with self._write() as (conn, now):
            # Driven by calls_finished (state, updated_at): a DONE call's updated_at is
            # when it finished, and the index keeps the scan off the big documents.
            rows = conn.execute(
                "DELETE FROM transcripts WHERE call_id IN (SELECT id FROM calls"
                " WHERE state = ? AND updated_at < ?) RETURNING call_id",
                (CallState.DONE.value, format_time(older_than)),
            ).fetchall()
            deleted = sorted(int(row[0]) for row in rows)
            _audit(conn, now, "transcript", deleted, reason)
        if deleted:
            self._checkpoint()
        return len(deleted)

    def backfilled_days(self, source: str) -> set[date]:
        rows = self._select("SELECT day FROM backfill_days WHERE source = ?", (source,))
        return {date.fromisoformat(row[0]) for row in rows}

    def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        with self._write() as (conn, now):
            conn.execute(
                "INSERT INTO backfill_days (source, day, calls, new_calls, finished_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, day) DO UPDATE SET"
                " calls = excluded.calls, new_calls = excluded.new_calls,"
                " finished_at = excluded.finished_at",
                (source, day.isoformat(), calls, new_calls, now),
            )

    def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        rows = self._select(
            "SELECT external_id FROM calls WHERE source = ?"
            " AND external_id IN (SELECT value FROM json_each(?))",
            (source, json.dumps(list(external_ids))),
        )
        return {row[0] for row in rows}

    def _checkpoint(self) -> None:
        """Move the WAL into the database and empty it: until then the WAL still holds
        the pages the deleted text was written in (secure_delete zeroes the database's
        copy only once the new pages are checkpointed)."""
        with self._lock:
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                log.warning("%s: WAL checkpoint after a purge failed: %s", self._name, exc)
                return
        if busy:
            log.warning(
                "%s: another program is reading the database, so the WAL could not be "
                "emptied after a purge; deleted text stays in it until a later checkpoint",
                self._name,
            )


def _requeue(
    conn: sqlite3.Connection, kind: JobKind, call_id: int, sink: str | None, now: str
) -> None:
    """The stage's last dead job back in the queue, due now, as if new (attempts and
    stalls reset, so the whole retry schedule applies again); a new job if none died."""
    dead = conn.execute(
        "SELECT id FROM jobs WHERE kind = ? AND call_id = ? AND sink IS ? AND state = 'dead'"
        " ORDER BY id DESC LIMIT 1",
        (kind.value, call_id, sink),
    ).fetchone()
    active = conn.execute(
        "SELECT 1 FROM jobs WHERE kind = ? AND call_id = ? AND sink IS ?"
        " AND state IN ('queued', 'running')",
        (kind.value, call_id, sink),
    ).fetchone()
    if active is not None:
        return  # already on its way (jobs_active_key allows one)
    if dead is None:
        q.enqueue(conn, kind, call_id, sink, now=now)
        return
    conn.execute(
        "UPDATE jobs SET state = 'queued', attempts = 0, stalls = 0, run_at = ?,"
        " lease_until = NULL, worker = NULL, error = NULL, updated_at = ? WHERE id = ?",
        (now, now, dead[0]),
    )


def _audit(
    conn: sqlite3.Connection, now: str, category: str, call_ids: Sequence[int], reason: str
) -> None:
    if call_ids:
        conn.execute(
            "INSERT INTO audit (at, category, count, object_ids, reason) VALUES (?, ?, ?, ?, ?)",
            (now, category, len(call_ids), json.dumps(list(call_ids)), reason),
        )
