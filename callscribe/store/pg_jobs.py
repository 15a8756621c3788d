"""The job queue half of :class:`~callscribe.store.postgres.PostgresStore`:
:mod:`callscribe.store.sqlite_jobs` on PostgreSQL, with the same rules for holding a
claim (see there).

Every function runs inside the caller's transaction (READ COMMITTED).  Where SQLite's
single writer made a read-then-write safe, the rows are locked here: claims and sweeps
take queued or expired jobs ``FOR UPDATE SKIP LOCKED`` (another node's rows are skipped,
never waited for), and a call is locked before it is settled, so two nodes finishing
its last two deliveries at once cannot both see the other's as still pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import AsyncCursor
from psycopg.rows import DictRow

from callscribe.domain import CallState, DeliveryState
from callscribe.store.base import Job, JobKind, JobState
from callscribe.store.codec import idempotency_key
from callscribe.store.rows import job_from_row

Cursor = AsyncCursor[DictRow]


async def enqueue(
    cur: Cursor, kind: JobKind, call_id: int, sink: str | None, now: datetime
) -> int | None:
    """Queue a job unless the same (kind, call, sink) is already queued or running
    (``jobs_active_key``); the new job's id, or None."""
    await cur.execute(
        "INSERT INTO jobs (kind, call_id, sink, state, run_at, created_at, updated_at)"
        " VALUES (%s, %s, %s, 'queued', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (kind.value, call_id, sink, now, now, now),
    )
    row = await cur.fetchone()
    return None if row is None else int(row["id"])


async def claim(
    cur: Cursor,
    kinds: Sequence[JobKind],
    worker: str,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Job]:
    if not kinds or limit < 1:
        return []
    await cur.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = %s,"
        " worker = %s, updated_at = %s WHERE id IN (SELECT id FROM jobs"
        " WHERE state = 'queued' AND kind = ANY(%s::text[]) AND run_at <= %s"
        " ORDER BY run_at, id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *",
        (lease_until, worker, now, [k.value for k in kinds], now, limit),
    )
    rows = await cur.fetchall()
    return sorted((job_from_row(r) for r in rows), key=lambda j: (j.run_at, j.id))


async def heartbeat(
    cur: Cursor, job_ids: Sequence[int], worker: str, now: datetime, lease_until: datetime
) -> int:
    if not job_ids:
        return 0
    await cur.execute(
        "UPDATE jobs SET lease_until = %s, updated_at = %s WHERE state = 'running'"
        " AND worker = %s AND id = ANY(%s::bigint[])",
        (lease_until, now, worker, [int(i) for i in job_ids]),
    )
    return cur.rowcount


async def release(cur: Cursor, job: Job, now: datetime) -> bool:
    await cur.execute(
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL,"
        " worker = NULL, updated_at = %s WHERE id = %s AND attempts = %s"
        " AND worker IS NOT DISTINCT FROM %s AND state = 'running'",
        (now, *_held(job)),
    )
    return cur.rowcount == 1


async def retry(cur: Cursor, job: Job, error: str, run_at: datetime, now: datetime) -> bool:
    await cur.execute(
        "UPDATE jobs SET state = 'queued', run_at = %s, lease_until = NULL, error = %s,"
        " updated_at = %s WHERE id = %s AND attempts = %s"
        " AND worker IS NOT DISTINCT FROM %s AND state IN ('queued', 'running')",
        (run_at, error, now, *_held(job)),
    )
    if cur.rowcount != 1:
        return False
    if job.kind is JobKind.DELIVER:
        await cur.execute(
            "UPDATE deliveries SET error = %s, attempts = %s WHERE call_id = %s AND sink = %s",
            (error, job.attempts, job.call_id, job.sink),
        )
    return True


async def finish(cur: Cursor, job: Job, state: JobState, now: datetime, error: str | None) -> bool:
    """Mark a held job DONE or DEAD; False when the claim is gone."""
    await cur.execute(
        "UPDATE jobs SET state = %s, lease_until = NULL, error = coalesce(%s, error),"
        " updated_at = %s WHERE id = %s AND attempts = %s"
        " AND worker IS NOT DISTINCT FROM %s AND state IN ('queued', 'running')",
        (state.value, error, now, *_held(job)),
    )
    return cur.rowcount == 1


async def after_death(cur: Cursor, job: Job, error: str, now: datetime) -> None:
    """What a dead job means for its call: FAILED, or its delivery DEAD."""
    if job.kind is JobKind.DELIVER:
        await cur.execute(
            "UPDATE deliveries SET state = %s, error = %s, attempts = %s"
            " WHERE call_id = %s AND sink = %s AND state = %s",
            (
                DeliveryState.DEAD.value,
                error,
                job.attempts,
                job.call_id,
                job.sink,
                DeliveryState.PENDING.value,
            ),
        )
        await settle_call(cur, job.call_id, now)
    else:
        await cur.execute(
            "UPDATE calls SET state = %s, error = %s, updated_at = %s WHERE id = %s",
            (CallState.FAILED.value, f"{job.kind.value}: {error}", now, job.call_id),
        )


async def sweep(cur: Cursor, now: datetime, max_stalls: int) -> int:
    """Requeue or bury RUNNING jobs whose lease expired before ``now``; jobs another
    node is sweeping (or heartbeating) right now are left to it."""
    await cur.execute(
        "SELECT * FROM jobs WHERE state = 'running' AND lease_until < %s"
        " ORDER BY id FOR UPDATE SKIP LOCKED",
        (now,),
    )
    rows = await cur.fetchall()
    for row in rows:
        job = job_from_row(row)
        stalls = job.stalls + 1
        reason = (
            f"worker {job.worker} stopped renewing its lease (expired "
            f"{row['lease_until'].isoformat(timespec='microseconds')}); "
            f"stall {stalls} of {max_stalls}"
        )
        if stalls >= max_stalls:
            reason += ": the job kills or hangs its worker every time, so it was given up"
            await cur.execute(
                "UPDATE jobs SET state = 'dead', stalls = %s, lease_until = NULL, error = %s,"
                " updated_at = %s WHERE id = %s",
                (stalls, reason, now, job.id),
            )
            await after_death(cur, job, reason, now)
        else:
            await cur.execute(
                "UPDATE jobs SET state = 'queued', stalls = %s, lease_until = NULL,"
                " run_at = %s, error = %s, updated_at = %s WHERE id = %s",
                (stalls, now, reason, now, job.id),
            )
    return len(rows)


async def queue_deliveries(cur: Cursor, call_id: int, sinks: Sequence[str], now: datetime) -> None:
    """A PENDING delivery and a DELIVER job for each sink the call has none for yet."""
    await cur.execute("SELECT source, external_id FROM calls WHERE id = %s", (call_id,))
    call = await cur.fetchone()
    if call is None:
        raise KeyError(f"no call with id {call_id}")
    for sink in dict.fromkeys(sinks):
        await cur.execute(
            "INSERT INTO deliveries (call_id, sink, state, idempotency_key)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING call_id",
            (
                call_id,
                sink,
                DeliveryState.PENDING.value,
                idempotency_key(call["source"], call["external_id"], sink),
            ),
        )
        if await cur.fetchone() is not None:
            await enqueue(cur, JobKind.DELIVER, call_id, sink, now)
    await settle_call(cur, call_id, now)


async def settle_call(cur: Cursor, call_id: int, now: datetime) -> None:
    """A call waiting on deliveries is DONE once none is pending.

    The call row is locked first and the deliveries read by a later statement, which
    under READ COMMITTED sees every delivery committed while we waited for the lock.
    """
    await cur.execute("SELECT 1 FROM calls WHERE id = %s FOR UPDATE", (call_id,))
    await cur.execute(
        "UPDATE calls SET state = %s, updated_at = %s WHERE id = %s AND state IN (%s, %s)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE call_id = %s AND state = %s)",
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


async def set_call_state(cur: Cursor, call_id: int, state: CallState, now: datetime) -> None:
    await cur.execute(
        "UPDATE calls SET state = %s, updated_at = %s WHERE id = %s",
        (state.value, now, call_id),
    )


async def requeue(
    cur: Cursor, kind: JobKind, call_id: int, sink: str | None, now: datetime
) -> None:
    """The stage's last dead job back in the queue, due now, as if new (attempts and
    stalls reset); a new job if none died; nothing if one is already on its way."""
    await cur.execute(
        "SELECT id, state FROM jobs WHERE kind = %s AND call_id = %s"
        " AND sink IS NOT DISTINCT FROM %s AND state IN ('queued', 'running', 'dead')"
        " ORDER BY state IN ('queued', 'running') DESC, id DESC LIMIT 1",
        (kind.value, call_id, sink),
    )
    row = await cur.fetchone()
    if row is None:
        await enqueue(cur, kind, call_id, sink, now)
    elif row["state"] == JobState.DEAD.value:
        await cur.execute(
            "UPDATE jobs SET state = 'queued', attempts = 0, stalls = 0, run_at = %s,"
            " lease_until = NULL, worker = NULL, error = NULL, updated_at = %s WHERE id = %s",
            (now, now, row["id"]),
        )


def _held(job: Job) -> tuple[int, int, str | None]:
    return (job.id, job.attempts, job.worker)
