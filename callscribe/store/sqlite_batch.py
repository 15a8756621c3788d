"""Batch work on stored calls, for :class:`~callscribe.store.sqlite.SqliteStore`: finding
calls, ``callscribe retranscribe`` runs and ``callscribe import``.

A retranscribe run is its calls (``retranscribe_items``), each QUEUED, RUNNING under one
worker's lease, or settled.  A command claims calls a few at a time, so two commands (or a
command and its restart after a crash) never take the same one, and a call the service is
working on, or another run holds, is not taken at all.  See the Store protocol for each
method's contract.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from callscribe.domain import Call, CallEvent, CallState, Transcript
from callscribe.phones import holds, phone_key
from callscribe.store import sqlite_jobs as q
from callscribe.store.base import (
    CallFilter,
    Ingested,
    ItemState,
    JobKind,
    RecordingFile,
    RetranscribeItem,
    RetranscribeRun,
)
from callscribe.store.batch_rows import (
    OBSTACLE_SQL,
    imported_state,
    item_from_row,
    obstacle_of,
    run_from_row,
    says,
)
from callscribe.store.codec import event_to_json, format_time
from callscribe.store.rows import call_from_row
from callscribe.store.sqlite_admin import SqliteAdmin
from callscribe.store.sqlite_versions import qmarks, store_transcript

_OBSTACLE = qmarks(OBSTACLE_SQL)


def sql_time(moment: datetime) -> str:
    """``moment`` as :meth:`SqliteBatch.find_calls` compares call times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class SqliteBatch(SqliteAdmin):
    """Finding calls, retranscribe runs and imports."""

    _clock: Callable[[], datetime]  # the store's clock (SqliteStore)

    def find_calls(self, where: CallFilter, limit: int | None = None) -> list[Call]:
        params = {
            "ids": json.dumps(list(where.call_ids)) if where.call_ids else None,
            "source": where.source,
            "state": None if where.state is None else where.state.value,
            "operator": where.operator,
            "number": None if where.number is None else (phone_key(where.number) or "-"),
            "since": None if where.since is None else sql_time(where.since),
            "until": None if where.until is None else sql_time(where.until),
            "text": None if not where.text else where.text.casefold(),
            "limit": -1 if limit is None else limit,
        }
        rows = self._select(
            # A call's time, ``at``: started, else ended (as the source wrote them, with
            # their offsets), else received, as UTC text that sorts (strftime converts).
            "SELECT * FROM (SELECT c.*, coalesce("
            "strftime('%Y-%m-%dT%H:%M:%f', json_extract(c.event, '$.started_at')),"
            " strftime('%Y-%m-%dT%H:%M:%f', json_extract(c.event, '$.ended_at')),"
            " strftime('%Y-%m-%dT%H:%M:%f', c.received_at)) AS at FROM calls c"
            " WHERE (:ids IS NULL OR c.id IN (SELECT value FROM json_each(:ids)))"
            " AND (:source IS NULL OR c.source = :source)"
            " AND (:state IS NULL OR c.state = :state)"
            " AND (:operator IS NULL OR json_extract(c.event, '$.operator_id') = :operator)"
            " AND (:number IS NULL"
            " OR callscribe_phone_key(json_extract(c.event, '$.client_number')) = :number"
            " OR callscribe_phone_key(json_extract(c.event, '$.line_number')) = :number)"
            " AND (:text IS NULL OR EXISTS (SELECT 1 FROM transcripts t"
            " WHERE t.call_id = c.id AND callscribe_says(t.document, :text))))"
            " WHERE (:since IS NULL OR at >= :since) AND (:until IS NULL OR at < :until)"
            " ORDER BY at DESC, id DESC LIMIT :limit",
            params,
        )
        return [call_from_row(row) for row in rows]

    # --- retranscribe runs ---------------------------------------------------------------

    def start_retranscribe(
        self,
        key: str,
        request: Mapping[str, Any],
        model: str,
        call_ids: Sequence[int],
        *,
        again: bool = False,
    ) -> RetranscribeRun:
        with self._write() as (conn, now):
            row = conn.execute(
                "INSERT INTO retranscribe_runs (key, request, model, started_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
                (key, json.dumps(dict(request), ensure_ascii=False, sort_keys=True), model,
                 now, now),
            ).fetchone()  # fmt: skip
            created = row is not None
            if row is None:
                row = conn.execute(
                    "SELECT id FROM retranscribe_runs WHERE key = ?", (key,)
                ).fetchone()
            run_id = int(row[0])
            if again:
                conn.execute(
                    "UPDATE retranscribe_items SET state = 'queued', worker = NULL,"
                    " lease_until = NULL, reason = NULL, updated_at = ? WHERE run_id = ?"
                    " AND NOT (state = 'running' AND lease_until >= ?)",
                    (now, run_id, now),
                )
            conn.execute(
                "INSERT INTO retranscribe_items (run_id, call_id, state, updated_at)"
                " SELECT ?, value, 'queued', ? FROM json_each(?) WHERE true"
                " ON CONFLICT (run_id, call_id) DO NOTHING",
                (run_id, now, json.dumps([int(i) for i in call_ids])),
            )
            return _run(conn, run_id, created)

    def claim_retranscribe(
        self, run_id: int, worker: str, lease_seconds: float, limit: int
    ) -> list[Call]:
        claimed: list[int] = []
        with self._write() as (conn, now):
            lease = q.later(now, lease_seconds)
            while len(claimed) < limit:
                free = conn.execute(
                    "SELECT call_id FROM retranscribe_items WHERE run_id = ?"
                    " AND (state = 'queued' OR (state = 'running' AND lease_until < ?))"
                    " ORDER BY call_id LIMIT ?",
                    (run_id, now, limit - len(claimed)),
                ).fetchall()
                if not free:
                    break
                for (call_id,) in free:
                    reason = _not_redoable(conn, run_id, call_id, now)
                    if reason is None:
                        conn.execute(
                            "UPDATE retranscribe_items SET state = 'running', worker = ?,"
                            " lease_until = ?, reason = NULL, updated_at = ?"
                            " WHERE run_id = ? AND call_id = ?",
                            (worker, lease, now, run_id, call_id),
                        )
                        claimed.append(call_id)
                    else:
                        _settle(conn, run_id, call_id, now, state=ItemState.SKIPPED, reason=reason)
            rows = conn.execute(
                "SELECT * FROM calls WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(claimed),),
            ).fetchall()
        return [call_from_row(row) for row in rows]

    def renew_retranscribe(self, run_id: int, worker: str, lease_seconds: float) -> int:
        with self._write() as (conn, now):
            return conn.execute(
                "UPDATE retranscribe_items SET lease_until = ?, updated_at = ?"
                " WHERE run_id = ? AND worker = ? AND state = 'running'",
                (q.later(now, lease_seconds), now, run_id, worker),
            ).rowcount

    def release_retranscribe(self, run_id: int, worker: str) -> int:
        with self._write() as (conn, now):
            return conn.execute(
                "UPDATE retranscribe_items SET state = 'queued', worker = NULL,"
                " lease_until = NULL, updated_at = ? WHERE run_id = ? AND worker = ?"
                " AND state = 'running'",
                (now, run_id, worker),
            ).rowcount

    def save_retranscription(
        self,
        run_id: int,
        call_id: int,
        worker: str,
        transcript: Transcript,
        *,
        settings: Mapping[str, Any],
        redeliver_to: Collection[str] = (),
    ) -> int | None:
        with self._write() as (conn, now):
            if not _held(conn, run_id, call_id, worker):
                return None
            reason = _not_redoable(conn, run_id, call_id, now)
            if reason is not None:
                _settle(conn, run_id, call_id, now, state=ItemState.SKIPPED, reason=reason)
                return None
            version = store_transcript(conn, call_id, transcript, settings, now)
            if redeliver_to:
                q.queue_revisions(conn, call_id, redeliver_to, version, now)
            conn.execute(
                "UPDATE retranscribe_items SET state = 'done', version = ?, worker = NULL,"
                " lease_until = NULL, reason = NULL, updated_at = ?"
                " WHERE run_id = ? AND call_id = ?",
                (version, now, run_id, call_id),
            )
            return version

    def settle_retranscribe(
        self, run_id: int, call_id: int, worker: str, state: ItemState, reason: str
    ) -> bool:
        if state not in (ItemState.SKIPPED, ItemState.FAILED):
            raise ValueError(f"a call is settled as skipped or failed, not {state.value}")
        with self._write() as (conn, now):
            if not _held(conn, run_id, call_id, worker):
                return False
            _settle(conn, run_id, call_id, now, state=state, reason=reason)
            return True

    def record_retranscribe_work(
        self, run_id: int, audio_seconds: float, work_seconds: float
    ) -> None:
        with self._write() as (conn, now):
            conn.execute(
                "UPDATE retranscribe_runs SET audio_seconds = audio_seconds + ?,"
                " work_seconds = work_seconds + ?, updated_at = ? WHERE id = ?",
                (max(audio_seconds, 0.0), max(work_seconds, 0.0), now, run_id),
            )

    def retranscribe_items(self, run_id: int) -> list[RetranscribeItem]:
        rows = self._select(
            "SELECT * FROM retranscribe_items WHERE run_id = ? ORDER BY call_id", (run_id,)
        )
        return [item_from_row(row) for row in rows]

    def retranscribe_run(self, key: str) -> RetranscribeRun | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM retranscribe_runs WHERE key = ?", (key,)
            ).fetchone()
            return None if row is None else _run(self._conn, int(row[0]), created=False)

    def retranscribe_obstacles(self, run_id: int | None, call_ids: Sequence[int]) -> dict[int, str]:
        with self._lock:
            now = format_time(self._clock())
            found = {
                call_id: _not_redoable(self._conn, run_id or 0, call_id, now)
                for call_id in call_ids
            }
        return {call_id: reason for call_id, reason in found.items() if reason is not None}

    def retranscribe_speed(self, model: str) -> float | None:
        rows = self._select(
            "SELECT sum(audio_seconds), sum(work_seconds) FROM retranscribe_runs WHERE model = ?",
            (model,),
        )
        audio, work = rows[0]
        return float(audio) / float(work) if audio and work else None

    # --- imports -------------------------------------------------------------------------

    def import_call(
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
        with self._write() as (conn, now):
            call_id = insert_call(conn, event, state, now)
            if call_id is None:
                return Ingested(call_id=known_call(conn, event), created=False)
            conn.execute(
                "INSERT INTO recordings (call_id, path, size, sha256, fetched_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (call_id, recording.path, recording.size, recording.sha256, now),
            )
            if transcript is not None:
                version = store_transcript(conn, call_id, transcript, settings, now)
                q.queue_deliveries(conn, call_id, sinks, now, version)
            else:
                reason = f"{JobKind.TRANSCRIBE.value}: {error}"
                conn.execute("UPDATE calls SET error = ? WHERE id = ?", (reason, call_id))
                conn.execute(
                    "INSERT INTO jobs (kind, call_id, state, attempts, run_at, error,"
                    " created_at, updated_at) VALUES (?, ?, 'dead', 1, ?, ?, ?, ?)",
                    (JobKind.TRANSCRIBE.value, call_id, now, error, now, now),
                )
            return Ingested(call_id=call_id, created=True)


def insert_call(
    conn: sqlite3.Connection, event: CallEvent, state: CallState, now: str
) -> int | None:
    """A new call row in ``state`` (its waiting call parts deleted); None when the
    ``(source, external_id)`` is already stored."""
    row = conn.execute(
        "INSERT INTO calls (source, external_id, event, state, received_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, external_id) DO NOTHING"
        " RETURNING id",
        (event.source, event.external_id, event_to_json(event), state.value, now, now),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "DELETE FROM call_parts WHERE source = ? AND external_id = ?",
        (event.source, event.external_id),
    )
    return int(row[0])


def known_call(conn: sqlite3.Connection, event: CallEvent) -> int:
    row = conn.execute(
        "SELECT id FROM calls WHERE source = ? AND external_id = ?",
        (event.source, event.external_id),
    ).fetchone()
    return int(row[0])


def _run(conn: sqlite3.Connection, run_id: int, created: bool) -> RetranscribeRun:
    row = conn.execute("SELECT * FROM retranscribe_runs WHERE id = ?", (run_id,)).fetchone()
    states = conn.execute(
        "SELECT state, count(*) FROM retranscribe_items WHERE run_id = ? GROUP BY state",
        (run_id,),
    ).fetchall()
    return run_from_row(row, states, created)


def _held(conn: sqlite3.Connection, run_id: int, call_id: int, worker: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM retranscribe_items WHERE run_id = ? AND call_id = ?"
        " AND state = 'running' AND worker = ?",
        (run_id, call_id, worker),
    ).fetchone()
    return row is not None


def _settle(
    conn: sqlite3.Connection, run_id: int, call_id: int, now: str, *, state: ItemState, reason: str
) -> None:
    conn.execute(
        "UPDATE retranscribe_items SET state = ?, reason = ?, worker = NULL,"
        " lease_until = NULL, updated_at = ? WHERE run_id = ? AND call_id = ?",
        (state.value, reason, now, run_id, call_id),
    )


def _not_redoable(conn: sqlite3.Connection, run_id: int, call_id: int, now: str) -> str | None:
    """Why the call cannot be transcribed again now; None when it can."""
    return obstacle_of(conn.execute(_OBSTACLE, (run_id, now, call_id)).fetchone())


def register_functions(conn: sqlite3.Connection) -> None:
    """The Python functions the batch and erasure queries call."""
    conn.create_function("callscribe_phone_key", 1, _key_of, deterministic=True)
    conn.create_function("callscribe_holds", 2, _holds, deterministic=True)
    conn.create_function("callscribe_says", 2, _says, deterministic=True)


def _key_of(text: object) -> str | None:
    return phone_key(text) if isinstance(text, str) else None


def _holds(text: object, key: object) -> int:
    return int(isinstance(text, str) and isinstance(key, str) and holds(text, key))


def _says(document: object, folded: object) -> int:
    return int(isinstance(document, str) and isinstance(folded, str) and says(document, folded))
