"""The job queue half of :class:`~callscribe.store.sqlite.SqliteStore`.

Every function here runs inside a write transaction the caller opened (``BEGIN
IMMEDIATE``) and takes the current time as store text (:func:`codec.format_time`), so
the whole step — finish one job, record its result, queue the next — commits at once.

A worker's hold on a job is the claim it made: the row is still active (queued or
running) with the same ``worker`` and ``attempts`` as the :class:`Job` it was handed.
A transition for a claim that is gone — the lease expired and another worker claimed the
job, or it was finished — changes nothing and returns False: the current holder owns
the outcome.  A claim swept back to the queue but not yet taken again still counts, so a
worker that was merely slow does not throw its finished work away.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from callscribe.domain import CallState, DeliveryState
from callscribe.store.base import Job, JobKind, JobState
from callscribe.store.codec import idempotency_key
from callscribe.store.rows import job_from_row


def enqueue(
    conn: sqlite3.Connection,
    kind: JobKind,
    call_id: int,
    sink: str | None,
    *,
    now: str,
    run_at: str | None = None,
) -> int | None:
    """Queue a job unless the same (kind, call, sink) is already queued or running.

    The partial unique index ``jobs_active_key`` makes the check race-free even between
    processes; returns the new job's id, or None when an active one already exists.
    """
    row = conn.execute(
        "INSERT INTO jobs (kind, call_id, sink, state, run_at, created_at, updated_at)"
        " VALUES (?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (kind.value, call_id, sink, run_at or now, now, now),
    ).fetchone()
    return None if row is None else int(row[0])


def claim(
    conn: sqlite3.Connection,
    kinds: Sequence[JobKind],
    worker: str,
    *,
    now: str,
    lease_until: str,
    limit: int,
) -> list[Job]:
    """Mark up to ``limit`` due jobs RUNNING for ``worker``, oldest ``run_at`` first."""
    if not kinds or limit < 1:
        return []
    # Lists are passed as one JSON parameter (json_each) so the SQL text stays constant.
    rows = conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?,"
        " worker = ?, updated_at = ? WHERE id IN (SELECT id FROM jobs"
        " WHERE state = 'queued' AND kind IN (SELECT value FROM json_each(?)) AND run_at <= ?"
        " ORDER BY run_at, id LIMIT ?) RETURNING *",
        (lease_until, worker, now, json.dumps([k.value for k in kinds]), now, limit),
    ).fetchall()
    # RETURNING gives rows in no particular order.
    return sorted((job_from_row(r) for r in rows), key=lambda j: (j.run_at, j.id))


def heartbeat(
    conn: sqlite3.Connection, job_ids: Sequence[int], worker: str, now: str, lease_until: str
) -> int:
    if not job_ids:
        return 0
    cursor = conn.execute(
        "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE state = 'running'"
        " AND worker = ? AND id IN (SELECT value FROM json_each(?))",
        (lease_until, now, worker, json.dumps([int(i) for i in job_ids])),
    )
    return cursor.rowcount


def release(conn: sqlite3.Connection, job: Job, now: str) -> bool:
    cursor = conn.execute(
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL,"
        " worker = NULL, updated_at = ?"
        " WHERE id = ? AND attempts = ? AND worker IS ? AND state = 'running'",
        (now, job.id, job.attempts, job.worker),
    )
    return cursor.rowcount == 1


def retry(conn: sqlite3.Connection, job: Job, error: str, run_at: str, now: str) -> bool:
    cursor = conn.execute(
        "UPDATE jobs SET state = 'queued', run_at = ?, lease_until = NULL, error = ?,"
        " updated_at = ? WHERE id = ? AND attempts = ? AND worker IS ?"
        " AND state IN ('queued', 'running')",
        (run_at, error, now, *_held(job)),
    )
    if cursor.rowcount != 1:
        return False
    if job.kind is JobKind.DELIVER:
        conn.execute(
            "UPDATE deliveries SET error = ?, attempts = ? WHERE call_id = ? AND sink = ?",
            (error, job.attempts, job.call_id, job.sink),
        )
    return True


def finish(
    conn: sqlite3.Connection, job: Job, state: JobState, now: str, error: str | None
) -> bool:
    """Mark a held job DONE or DEAD; False when the claim is gone."""
    cursor = conn.execute(
        "UPDATE jobs SET state = ?, lease_until = NULL, error = coalesce(?, error),"
        " updated_at = ? WHERE id = ? AND attempts = ? AND worker IS ?"
        " AND state IN ('queued', 'running')",
        (state.value, error, now, *_held(job)),
    )
    return cursor.rowcount == 1


def after_death(conn: sqlite3.Connection, job: Job, error: str, now: str) -> None:
    """What a dead job means for its call: FAILED, or its delivery DEAD."""
    if job.kind is JobKind.DELIVER:
        conn.execute(
            "UPDATE deliveries SET state = ?, error = ?, attempts = ?"
            " WHERE call_id = ? AND sink = ? AND state = ?",
            (
                DeliveryState.DEAD.value,
                error,
                job.attempts,
                job.call_id,
                job.sink,
                DeliveryState.PENDING.value,
            ),
        )
        settle_call(conn, job.call_id, now)
    else:
        conn.execute(
            "UPDATE calls SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            (CallState.FAILED.value, f"{job.kind.value}: {error}", now, job.call_id),
        )


def sweep(conn: sqlite3.Connection, now: str, max_stalls: int) -> int:
    """Requeue or bury RUNNING jobs whose lease expired before ``now``."""
    rows = conn.execute(
        "SELECT * FROM jobs WHERE state = 'running' AND lease_until < ?", (now,)
    ).fetchall()
    for row in rows:
        job = job_from_row(row)
        stalls = job.stalls + 1
        reason = (
            f"worker {job.worker} stopped renewing its lease (expired {row['lease_until']});"
            f" stall {stalls} of {max_stalls}"
        )
        if stalls >= max_stalls:
            reason += ": the job kills or hangs its worker every time, so it was given up"
            conn.execute(
                "UPDATE jobs SET state = 'dead', stalls = ?, lease_until = NULL, error = ?,"
                " updated_at = ? WHERE id = ?",
                (stalls, reason, now, job.id),
            )
            after_death(conn, job, reason, now)
        else:
            # Due at once: the stalled attempt did not fail, its worker went away.
            conn.execute(
                "UPDATE jobs SET state = 'queued', stalls = ?, lease_until = NULL, run_at = ?,"
                " error = ?, updated_at = ? WHERE id = ?",
                (stalls, now, reason, now, job.id),
            )
    return len(rows)


def queue_deliveries(
    conn: sqlite3.Connection, call_id: int, sinks: Sequence[str], now: str
) -> None:
    """A PENDING delivery and a DELIVER job for each sink the call has none for yet."""
    call = conn.execute("SELECT source, external_id FROM calls WHERE id = ?", (call_id,)).fetchone()
    if call is None:
        raise KeyError(f"no call with id {call_id}")
    for sink in dict.fromkeys(sinks):
        inserted = conn.execute(
            "INSERT INTO deliveries (call_id, sink, state, idempotency_key) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING call_id",
            (
                call_id,
                sink,
                DeliveryState.PENDING.value,
                idempotency_key(call["source"], call["external_id"], sink),
            ),
        ).fetchone()
        if inserted is not None:
            enqueue(conn, JobKind.DELIVER, call_id, sink, now=now)
    settle_call(conn, call_id, now)


def settle_call(conn: sqlite3.Connection, call_id: int, now: str) -> None:
    """A call waiting on deliveries is DONE once none is pending."""
    conn.execute(
        "UPDATE calls SET state = ?, updated_at = ? WHERE id = ? AND state IN (?, ?)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE call_id = ? AND state = ?)",
        (
            CallState.DONE.value,
            now,
            call_id,
            CallState.TRANSCRIBED.value,
            CallState.NO_RECORDING.value,
            call_id,
            DeliveryState.PENDING.value,
        ),
    )


def _held(job: Job) -> tuple[int, int, str | None]:
    return (job.id, job.attempts, job.worker)
