"""The store on PostgreSQL, for several nodes sharing one queue: native asyncio on a
psycopg connection pool (:mod:`pg_pool`), the same schema and contract as SQLite.

The daemon uses it as it is (:class:`~callscribe.store.async_api.AsyncStoreApi`); the
CLI wraps it in :class:`~callscribe.store.blocking.BlockingStore`.  Each method is one
transaction (READ COMMITTED), retried as a whole over a lost connection; the ones where
nodes can race are explained in :mod:`pg_jobs`.  Ingest and the parts of a call take a
transaction-level advisory lock on (source, external_id), so a part cannot slip in
beside an ingest that is deleting the call's parts.

Ingest stays one transaction per event (no ``ingest_many``, no group commit as SQLite's
:class:`~callscribe.store.async_store.AsyncStore` does): webhooks that arrive together
commit side by side on the pool's connections, and the server groups their WAL flushes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from callscribe.domain import CallEvent, CallPart, CallState, Recording, Transcript
from callscribe.store import pg_jobs as q
from callscribe.store.base import CallParts, Ingested, Job, JobKind, JobState, Limits
from callscribe.store.claims import check_call, held_or_warn
from callscribe.store.codec import event_to_json
from callscribe.store.pg_batch import insert_call, known_call, lock_call_key
from callscribe.store.pg_erasure import PgErasure
from callscribe.store.pg_pool import Cursor, PgDatabase, PgTarget
from callscribe.store.pg_schema import migrate
from callscribe.store.pg_versions import store_transcript
from callscribe.store.postgres_lock import run_exclusively
from callscribe.store.rows import parts_from_rows

DEFAULT_POOL = 10


class PostgresStore(PgErasure):
    """Open with :meth:`open`, which connects, migrates and checks the schema."""

    def __init__(self, db: PgDatabase, limits: Limits) -> None:
        super().__init__(db)
        self._limits = limits

    @classmethod
    async def open(
        cls,
        target: PgTarget,
        *,
        clock: Callable[[], datetime] | None = None,
        limits: Limits = Limits(),  # noqa: B008 - frozen
        pool_size: int = DEFAULT_POOL,
    ) -> PostgresStore:
        """``clock``: tests' fake clock; by default the server's time (see pg_pool)."""
        conn = await target.connect(autocommit=True)
        try:
            await migrate(conn, target.name)
        finally:
            await conn.close()
        return cls(await PgDatabase.open(target, clock=clock, max_size=pool_size), limits)

    @property
    def target(self) -> PgTarget:
        return self._db.target

    def ready(self) -> bool:
        return self._db.ready()

    async def run_exclusively(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        await run_exclusively(self._db.target, name, work)

    async def aclose(self) -> None:
        await self._db.close()

    async def ingest(self, event: CallEvent, sinks: Sequence[str] | None = None) -> Ingested:
        document = event_to_json(event)  # a bad event fails here, before any write
        state = CallState.RECEIVED if event.recordings else CallState.NO_RECORDING

        async def body(cur: Cursor, now: datetime) -> Ingested:
            call_id = await insert_call(cur, event, document, state, now)
            if call_id is None:
                return Ingested(call_id=await known_call(cur, event), created=False)
            if event.recordings:
                await q.enqueue(cur, JobKind.FETCH, call_id, None, now)
            elif sinks is not None:
                await q.queue_deliveries(cur, call_id, sinks, now)
            return Ingested(call_id=call_id, created=True)

        return await self._db.transaction(body)

    async def add_call_part(self, part: CallPart) -> CallParts | None:
        data = json.dumps(dict(part.data), ensure_ascii=False, sort_keys=True)
        key = (part.source, part.external_id)

        async def body(cur: Cursor, now: datetime) -> CallParts | None:
            await lock_call_key(cur, *key)
            await cur.execute("SELECT 1 FROM calls WHERE source = %s AND external_id = %s", key)
            if await cur.fetchone() is not None:
                return None
            await cur.execute(
                "INSERT INTO call_parts (source, external_id, part, data, received_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, external_id, part)"
                " DO UPDATE SET data = excluded.data",
                (*key, part.part, data, now),
            )
            await cur.execute(
                "SELECT * FROM call_parts WHERE source = %s AND external_id = %s", key
            )
            return parts_from_rows(await cur.fetchall())[0]

        return await self._db.transaction(body)

    async def claim(
        self, kinds: Sequence[JobKind], worker: str, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        async def body(cur: Cursor, now: datetime) -> list[Job]:
            until = now + timedelta(seconds=lease_seconds)
            return await q.claim(cur, kinds, worker, now=now, lease_until=until, limit=limit)

        return await self._db.transaction(body)

    async def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float) -> int:
        async def body(cur: Cursor, now: datetime) -> int:
            until = now + timedelta(seconds=lease_seconds)
            return await q.heartbeat(cur, job_ids, worker, now, until)

        return await self._db.transaction(body)

    async def release(self, job: Job) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            held_or_warn(await q.release(cur, job, now), job, "release")

        await self._db.transaction(body)

    async def retry(self, job: Job, error: str, run_at: datetime) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            held_or_warn(await q.retry(cur, job, error, run_at, now), job, "retry")

        await self._db.transaction(body)

    async def bury(self, job: Job, error: str) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            if held_or_warn(await q.finish(cur, job, JobState.DEAD, now, error), job, "bury"):
                await q.after_death(cur, job, error, now)

        await self._db.transaction(body)

    async def sweep(self, now: datetime | None = None) -> int:
        async def body(cur: Cursor, clock_now: datetime) -> int:
            return await q.sweep(cur, clock_now if now is None else now, self._limits.max_stalls)

        return await self._db.transaction(body)

    async def complete_fetch(self, job: Job, recording: Recording) -> None:
        check_call(job, recording.call_id)

        async def body(cur: Cursor, now: datetime) -> None:
            if not await _finish(cur, job, now):
                return
            await cur.execute(
                "INSERT INTO recordings (call_id, path, size, sha256, fetched_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (call_id) DO UPDATE SET"
                " path = excluded.path, size = excluded.size, sha256 = excluded.sha256,"
                " fetched_at = excluded.fetched_at, purged_at = NULL",
                (job.call_id, recording.path, recording.size, recording.sha256,
                 recording.fetched_at),
            )  # fmt: skip
            await q.set_call_state(cur, job.call_id, CallState.FETCHED, now)
            await q.enqueue(cur, JobKind.TRANSCRIBE, job.call_id, None, now)

        await self._db.transaction(body)

    async def complete_transcribe(
        self,
        job: Job,
        transcript: Transcript,
        sinks: Sequence[str],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            if not await _finish(cur, job, now):
                return
            await _lock_call(cur, job.call_id)
            version = await store_transcript(cur, job.call_id, transcript, settings, now)
            await q.set_call_state(cur, job.call_id, CallState.TRANSCRIBED, now)
            await q.queue_deliveries(cur, job.call_id, sinks, now, version)

        await self._db.transaction(body)

    async def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            await cur.execute("SELECT state FROM calls WHERE id = %s FOR UPDATE", (call_id,))
            row = await cur.fetchone()
            if row is None:
                raise KeyError(f"no call with id {call_id}")
            state = CallState(row["state"])
            if state is CallState.DONE:
                return  # already routed and finished: calling again changes nothing
            if state is not CallState.NO_RECORDING:
                raise ValueError(
                    f"call {call_id} is {state.value}: only calls without a recording are "
                    "routed directly; the others get deliveries from complete_transcribe"
                )
            await q.queue_deliveries(cur, call_id, sinks, now)

        await self._db.transaction(body)

    async def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            if not await _finish(cur, job, now):
                return
            await cur.execute(
                "UPDATE deliveries SET state = 'delivered', remote_id = %s, delivered_at = %s,"
                " attempts = %s, error = NULL WHERE call_id = %s AND sink = %s AND version = %s",
                (remote_id, now, job.attempts, job.call_id, job.sink, job.version),
            )
            await q.next_delivery(cur, job.call_id, job.sink or "", now)
            await q.settle_call(cur, job.call_id, now)

        await self._db.transaction(body)

    async def save_delivery_progress(
        self, call_id: int, sink: str, progress: Mapping[str, Any], version: int = 1
    ) -> None:
        which = (call_id, sink, version)

        async def body(cur: Cursor, _: datetime) -> None:
            await cur.execute(
                "SELECT progress FROM deliveries WHERE call_id = %s AND sink = %s"
                " AND version = %s FOR UPDATE",
                which,
            )
            row = await cur.fetchone()
            if row is None:
                raise KeyError(f"no delivery of call {call_id} to {sink} (version {version})")
            merged = {**json.loads(row["progress"]), **progress}
            await cur.execute(
                "UPDATE deliveries SET progress = %s WHERE call_id = %s AND sink = %s"
                " AND version = %s",
                (json.dumps(merged, ensure_ascii=False, sort_keys=True), *which),
            )

        await self._db.transaction(body)


async def _finish(cur: Cursor, job: Job, now: datetime) -> bool:
    """Mark a held job DONE; False, with a warning, when the claim is gone."""
    return held_or_warn(await q.finish(cur, job, JobState.DONE, now, None), job, "complete")


async def _lock_call(cur: Cursor, call_id: int) -> None:
    """Hold the call's row to the end of the transaction: its versions are numbered
    one writer at a time (a retranscribe run saves under the same lock)."""
    await cur.execute("SELECT 1 FROM calls WHERE id = %s FOR UPDATE", (call_id,))
