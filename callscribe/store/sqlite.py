"""The default store: one SQLite file in WAL mode, synced at every commit.

Threading rule: one :class:`SqliteStore` is one connection and is meant to be used by
one thread at a time — in the daemon, :class:`~callscribe.store.async_store.AsyncStore`
runs every call on its single worker thread.  A lock still serialises the methods, so a
stray second thread waits instead of interleaving two transactions on one connection.
Several stores (connections) on the same file, in threads or processes, are safe: every
write starts with ``BEGIN IMMEDIATE`` and waits up to ``busy_timeout`` for the lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe import faults
from callscribe.domain import CallEvent, CallPart, CallState, Recording, Transcript
from callscribe.errors import StoreError
from callscribe.store import sqlite_jobs as q
from callscribe.store.base import CallParts, Ingested, Job, JobKind, JobState, Limits
from callscribe.store.claims import check_call, held_or_warn
from callscribe.store.codec import event_to_json, format_time, utc_now
from callscribe.store.migrations import migrate
from callscribe.store.rows import parts_from_rows
from callscribe.store.sqlite_batch import insert_call, known_call, register_functions
from callscribe.store.sqlite_erasure import SqliteErasure
from callscribe.store.sqlite_versions import store_transcript

__all__ = ["SqliteStore", "utc_now"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
DEFAULT_LIMITS = Limits()


class SqliteStore(SqliteErasure):
    """:class:`~callscribe.store.base.Store` on a SQLite file (created if missing).

    Opening checks the file (``PRAGMA quick_check``) and migrates the schema; a damaged
    file, a file that is not a database or one written by a newer callscribe raise
    :class:`StoreError` with what to do about it.  The methods keep the contract
    documented on the protocol; SQLite errors surface as :class:`StoreError`.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._limits = limits
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, always IMMEDIATE.
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        try:
            _configure(conn, self.path)
            _quick_check(conn, self.path)
            migrate(conn, str(self.path))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _open_error(self.path, exc) from exc
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        super().__init__(conn, self._lock, str(self.path))

    def ingest(self, event: CallEvent, sinks: Sequence[str] | None = None) -> Ingested:
        event_to_json(event)  # a bad event fails here, before any write
        with self._write() as (conn, now):
            return _insert_event(conn, now, event, sinks)

    def ingest_many(
        self, items: Sequence[tuple[CallEvent, Sequence[str] | None]]
    ) -> list[Ingested | Exception]:
        """:meth:`ingest` for several events in one transaction, so one sync to disk
        commits them all (group commit: the daemon's webhooks under load).  Each event is
        stored or refused on its own (a savepoint each): the result at its place is its
        :class:`Ingested`, or the error that refused it.  Raises, storing none, only when
        the transaction itself cannot commit."""
        results: list[Ingested | Exception] = []
        with self._write() as (conn, now):
            for event, sinks in items:
                try:
                    event_to_json(event)
                except (ValueError, TypeError) as exc:
                    results.append(exc)
                    continue
                conn.execute("SAVEPOINT event")
                try:
                    results.append(_insert_event(conn, now, event, sinks))
                except (sqlite3.Error, ValueError) as exc:  # ValueError: text SQLite refused
                    conn.execute("ROLLBACK TO event")
                    failed = isinstance(exc, sqlite3.Error)
                    results.append(StoreError(f"{self.path}: {exc}") if failed else exc)
                conn.execute("RELEASE event")
        return results

    def add_call_part(self, part: CallPart) -> CallParts | None:
        data = json.dumps(dict(part.data), ensure_ascii=False, sort_keys=True)
        key = (part.source, part.external_id)
        with self._write() as (conn, now):
            known = conn.execute(
                "SELECT 1 FROM calls WHERE source = ? AND external_id = ?", key
            ).fetchone()
            if known is not None:
                return None
            conn.execute(
                "INSERT INTO call_parts (source, external_id, part, data, received_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, external_id, part)"
                " DO UPDATE SET data = excluded.data",
                (*key, part.part, data, now),
            )
            rows = conn.execute(
                "SELECT * FROM call_parts WHERE source = ? AND external_id = ?", key
            ).fetchall()
        return parts_from_rows(rows)[0]

    def claim(
        self, kinds: Sequence[JobKind], worker: str, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        with self._write() as (conn, now):
            lease_until = q.later(now, lease_seconds)
            return q.claim(conn, kinds, worker, now=now, lease_until=lease_until, limit=limit)

    def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float) -> int:
        with self._write() as (conn, now):
            return q.heartbeat(conn, job_ids, worker, now, q.later(now, lease_seconds))

    def release(self, job: Job) -> None:
        with self._write() as (conn, now):
            held_or_warn(q.release(conn, job, now), job, "release")

    def retry(self, job: Job, error: str, run_at: datetime) -> None:
        with self._write() as (conn, now):
            held_or_warn(q.retry(conn, job, error, format_time(run_at), now), job, "retry")

    def bury(self, job: Job, error: str) -> None:
        with self._write() as (conn, now):
            if held_or_warn(q.finish(conn, job, JobState.DEAD, now, error), job, "bury"):
                q.after_death(conn, job, error, now)

    def sweep(self, now: datetime | None = None) -> int:
        with self._write() as (conn, clock_now):
            at = clock_now if now is None else format_time(now)
            return q.sweep(conn, at, self._limits.max_stalls)

    def complete_fetch(self, job: Job, recording: Recording) -> None:
        check_call(job, recording.call_id)
        with self._write() as (conn, now):
            if not held_or_warn(q.finish(conn, job, JobState.DONE, now, None), job, "complete"):
                return
            conn.execute(
                "INSERT OR REPLACE INTO recordings (call_id, path, size, sha256, fetched_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    job.call_id,
                    recording.path,
                    recording.size,
                    recording.sha256,
                    format_time(recording.fetched_at),
                ),
            )
            self._set_state(conn, job.call_id, CallState.FETCHED, now)
            q.enqueue(conn, JobKind.TRANSCRIBE, job.call_id, None, now=now)

    def complete_transcribe(
        self,
        job: Job,
        transcript: Transcript,
        sinks: Sequence[str],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        with self._write() as (conn, now):
            if not held_or_warn(q.finish(conn, job, JobState.DONE, now, None), job, "complete"):
                return
            version = store_transcript(conn, job.call_id, transcript, settings, now)
            self._set_state(conn, job.call_id, CallState.TRANSCRIBED, now)
            q.queue_deliveries(conn, job.call_id, sinks, now, version)

    def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        with self._write() as (conn, now):
            row = conn.execute("SELECT state FROM calls WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                raise KeyError(f"no call with id {call_id}")
            state = CallState(row[0])
            if state is CallState.DONE:
                return  # already routed and finished: calling again changes nothing
            if state is not CallState.NO_RECORDING:
                raise ValueError(
                    f"call {call_id} is {state.value}: only calls without a recording are "
                    "routed directly; the others get deliveries from complete_transcribe"
                )
            q.queue_deliveries(conn, call_id, sinks, now)

    def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        with self._write() as (conn, now):
            if not held_or_warn(q.finish(conn, job, JobState.DONE, now, None), job, "complete"):
                return
            conn.execute(
                "UPDATE deliveries SET state = 'delivered', remote_id = ?, delivered_at = ?,"
                " attempts = ?, error = NULL WHERE call_id = ? AND sink = ? AND version = ?",
                (remote_id, now, job.attempts, job.call_id, job.sink, job.version),
            )
            q.next_delivery(conn, job.call_id, job.sink or "", now)
            q.settle_call(conn, job.call_id, now)

    def save_delivery_progress(
        self, call_id: int, sink: str, progress: Mapping[str, Any], version: int = 1
    ) -> None:
        which = (call_id, sink, version)
        with self._write() as (conn, _):
            row = conn.execute(
                "SELECT progress FROM deliveries WHERE call_id = ? AND sink = ? AND version = ?",
                which,
            ).fetchone()
            if row is None:
                raise KeyError(f"no delivery of call {call_id} to {sink} (version {version})")
            merged = {**json.loads(row["progress"]), **progress}
            conn.execute(
                "UPDATE deliveries SET progress = ? WHERE call_id = ? AND sink = ? AND version = ?",
                (json.dumps(merged, ensure_ascii=False, sort_keys=True), *which),
            )

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.execute("PRAGMA optimize")  # cheap; keeps query plans good
            except sqlite3.Error:
                log.debug("PRAGMA optimize failed on close", exc_info=True)
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, str]]:
        """One write transaction: IMMEDIATE, so it waits for the write lock up front
        rather than failing with SQLITE_BUSY when a read turns into a write."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                # Read the clock once we hold the write lock, so times follow commit order.
                yield self._conn, format_time(self._clock())
                faults.reach("store.commit")
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    # A failed ROLLBACK must not hide the error that caused it.
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: {exc}") from exc
                raise

    @staticmethod
    def _set_state(conn: sqlite3.Connection, call_id: int, state: CallState, now: str) -> None:
        conn.execute(
            "UPDATE calls SET state = ?, updated_at = ? WHERE id = ?", (state.value, now, call_id)
        )


def _insert_event(
    conn: sqlite3.Connection, now: str, event: CallEvent, sinks: Sequence[str] | None
) -> Ingested:
    """The writes of one :meth:`SqliteStore.ingest`, inside the caller's transaction."""
    state = CallState.RECEIVED if event.recordings else CallState.NO_RECORDING
    call_id = insert_call(conn, event, state, now)
    if call_id is None:
        return Ingested(call_id=known_call(conn, event), created=False)
    if event.recordings:
        q.enqueue(conn, JobKind.FETCH, call_id, None, now=now)
    elif sinks is not None:
        q.queue_deliveries(conn, call_id, sinks, now)
    return Ingested(call_id=call_id, created=True)


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    # busy_timeout first, so the journal mode switch waits for other openers too.
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    mode = _write_ahead_logging(conn)
    if str(mode).lower() != "wal":
        raise StoreError(
            f"{path}: SQLite cannot use write-ahead logging here (journal_mode stays {mode}); "
            "put the state directory on a local filesystem"
        )
    # FULL syncs the WAL at every commit: an acknowledged call survives a power cut (R-Q-5).
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted rows are overwritten with zeros, so a purged transcript cannot be read back
    # from free pages of the file (R-PII-1); the WAL is emptied after each purge.
    conn.execute("PRAGMA secure_delete = ON")
    register_functions(conn)


def _write_ahead_logging(conn: sqlite3.Connection) -> str:
    """Switch to WAL; the journal mode that is in force afterwards.

    The switch takes an exclusive lock, and where several processes open a new file at
    once SQLite answers "database is locked" at once rather than wait (waiting could
    deadlock), so the switch is retried for as long as the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY"
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        # One row may hold many lines; the first few say enough, the rest is noise.
        lines = [line for row in rows for line in row.splitlines() if line.strip()]
        more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
        raise StoreError(_damaged(path, "; ".join(lines[:5]) + more))


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    code = str(getattr(exc, "sqlite_errorname", ""))
    if code == "SQLITE_NOTADB":
        return StoreError(
            f"{path} is not a SQLite database, so callscribe cannot keep its calls in it; "
            "set another database path or move this file away"
        )
    if code.startswith("SQLITE_CORRUPT"):
        return StoreError(_damaged(path, str(exc)))
    # Locked by another program, unreadable, disk full: the file itself may be fine.
    return StoreError(f"cannot open the database {path}: {exc}")


def _damaged(path: Path, detail: str) -> str:
    return (
        f"the database {path} is damaged (PRAGMA quick_check: {detail}); callscribe will "
        "not start on it. Restore it from a backup, or move it away to start with an empty "
        "one (with its -wal and -shm files)"
    )
