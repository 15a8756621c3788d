"""``callscribe retranscribe`` runs, for :class:`~callscribe.store.postgres.PostgresStore`
(:mod:`sqlite_batch`'s runs on PostgreSQL; the contract is the Store protocol's).

SQLite has one writer at a time; here commands on several machines claim at once, so:
a claim takes the run's free items ``FOR UPDATE SKIP LOCKED`` (another command's are
skipped, never waited for), then locks each call's row before it looks at what else
holds the call: two runs, or a run and the service, deciding about one call take turns,
and the later one sees what the first committed.  Saving locks the item, then the call,
in the same order, so a save and a claim cannot deadlock.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from callscribe.domain import Call, Transcript
from callscribe.store import pg_jobs as q
from callscribe.store.base import ItemState, RetranscribeItem, RetranscribeRun
from callscribe.store.batch_rows import OBSTACLE_SQL, item_from_row, obstacle_of, run_from_row
from callscribe.store.pg_batch import PgBatch
from callscribe.store.pg_pool import Cursor
from callscribe.store.pg_versions import store_transcript
from callscribe.store.rows import call_from_row


class PgRuns(PgBatch):
    """Retranscribe runs: their calls claimed, leased, settled."""

    async def start_retranscribe(
        self,
        key: str,
        request: Mapping[str, Any],
        model: str,
        call_ids: Sequence[int],
        *,
        again: bool = False,
    ) -> RetranscribeRun:
        described = json.dumps(dict(request), ensure_ascii=False, sort_keys=True)

        async def body(cur: Cursor, now: datetime) -> RetranscribeRun:
            await cur.execute(
                "INSERT INTO retranscribe_runs (key, request, model, started_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
                (key, described, model, now, now),
            )
            row = await cur.fetchone()
            created = row is not None
            if row is None:
                await cur.execute("SELECT id FROM retranscribe_runs WHERE key = %s", (key,))
                row = await cur.fetchone()
            run_id = int(row["id"]) if row else 0
            if again:
                await cur.execute(
                    "UPDATE retranscribe_items SET state = 'queued', worker = NULL,"
                    " lease_until = NULL, reason = NULL, updated_at = %s WHERE run_id = %s"
                    " AND NOT (state = 'running' AND lease_until >= %s)",
                    (now, run_id, now),
                )
            await cur.execute(
                "INSERT INTO retranscribe_items (run_id, call_id, state, updated_at)"
                " SELECT %s, unnest(%s::bigint[]), 'queued', %s"
                " ON CONFLICT (run_id, call_id) DO NOTHING",
                (run_id, [int(i) for i in call_ids], now),
            )
            return await _run(cur, run_id, created)

        return await self._db.transaction(body)

    async def claim_retranscribe(
        self, run_id: int, worker: str, lease_seconds: float, limit: int
    ) -> list[Call]:
        async def body(cur: Cursor, now: datetime) -> list[Call]:
            lease = now + timedelta(seconds=lease_seconds)
            claimed: list[int] = []
            while len(claimed) < limit:
                await cur.execute(
                    "SELECT call_id FROM retranscribe_items WHERE run_id = %s"
                    " AND (state = 'queued' OR (state = 'running' AND lease_until < %s))"
                    " ORDER BY call_id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (run_id, now, limit - len(claimed)),
                )
                free = [int(row["call_id"]) for row in await cur.fetchall()]
                if not free:
                    break
                for call_id in free:
                    reason = await _obstacle(cur, run_id, call_id, now)
                    if reason is None:
                        await cur.execute(
                            "UPDATE retranscribe_items SET state = 'running', worker = %s,"
                            " lease_until = %s, reason = NULL, updated_at = %s"
                            " WHERE run_id = %s AND call_id = %s",
                            (worker, lease, now, run_id, call_id),
                        )
                        claimed.append(call_id)
                    else:
                        await _settle(
                            cur, run_id, call_id, now, state=ItemState.SKIPPED, reason=reason
                        )
            await cur.execute(
                "SELECT * FROM calls WHERE id = ANY(%s::bigint[]) ORDER BY id", (claimed,)
            )
            return [call_from_row(row) for row in await cur.fetchall()]

        return await self._db.transaction(body)

    async def renew_retranscribe(self, run_id: int, worker: str, lease_seconds: float) -> int:
        async def body(cur: Cursor, now: datetime) -> int:
            await cur.execute(
                "UPDATE retranscribe_items SET lease_until = %s, updated_at = %s"
                " WHERE run_id = %s AND worker = %s AND state = 'running'",
                (now + timedelta(seconds=lease_seconds), now, run_id, worker),
            )
            return cur.rowcount

        return await self._db.transaction(body)

    async def release_retranscribe(self, run_id: int, worker: str) -> int:
        async def body(cur: Cursor, now: datetime) -> int:
            await cur.execute(
                "UPDATE retranscribe_items SET state = 'queued', worker = NULL,"
                " lease_until = NULL, updated_at = %s WHERE run_id = %s AND worker = %s"
                " AND state = 'running'",
                (now, run_id, worker),
            )
            return cur.rowcount

        return await self._db.transaction(body)

    async def save_retranscription(
        self,
        run_id: int,
        call_id: int,
        worker: str,
        transcript: Transcript,
        *,
        settings: Mapping[str, Any],
        redeliver_to: Collection[str] = (),
    ) -> int | None:
        async def body(cur: Cursor, now: datetime) -> int | None:
            if not await _held(cur, run_id, call_id, worker):
                return None
            reason = await _obstacle(cur, run_id, call_id, now)
            if reason is not None:
                await _settle(cur, run_id, call_id, now, state=ItemState.SKIPPED, reason=reason)
                return None
            version = await store_transcript(cur, call_id, transcript, settings, now)
            if redeliver_to:
                await q.queue_revisions(cur, call_id, redeliver_to, version, now)
            await cur.execute(
                "UPDATE retranscribe_items SET state = 'done', version = %s, worker = NULL,"
                " lease_until = NULL, reason = NULL, updated_at = %s"
                " WHERE run_id = %s AND call_id = %s",
                (version, now, run_id, call_id),
            )
            return version

        return await self._db.transaction(body)

    async def settle_retranscribe(
        self, run_id: int, call_id: int, worker: str, state: ItemState, reason: str
    ) -> bool:
        if state not in (ItemState.SKIPPED, ItemState.FAILED):
            raise ValueError(f"a call is settled as skipped or failed, not {state.value}")

        async def body(cur: Cursor, now: datetime) -> bool:
            if not await _held(cur, run_id, call_id, worker):
                return False
            await _settle(cur, run_id, call_id, now, state=state, reason=reason)
            return True

        return await self._db.transaction(body)

    async def record_retranscribe_work(
        self, run_id: int, audio_seconds: float, work_seconds: float
    ) -> None:
        async def body(cur: Cursor, now: datetime) -> None:
            await cur.execute(
                "UPDATE retranscribe_runs SET audio_seconds = audio_seconds + %s,"
                " work_seconds = work_seconds + %s, updated_at = %s WHERE id = %s",
                (max(audio_seconds, 0.0), max(work_seconds, 0.0), now, run_id),
            )

        await self._db.transaction(body)

    async def retranscribe_items(self, run_id: int) -> list[RetranscribeItem]:
        rows = await self._db.select(
            "SELECT * FROM retranscribe_items WHERE run_id = %s ORDER BY call_id", (run_id,)
        )
        return [item_from_row(row) for row in rows]

    async def retranscribe_run(self, key: str) -> RetranscribeRun | None:
        async def body(cur: Cursor, _: datetime) -> RetranscribeRun | None:
            await cur.execute("SELECT id FROM retranscribe_runs WHERE key = %s", (key,))
            row = await cur.fetchone()
            return None if row is None else await _run(cur, int(row["id"]), created=False)

        return await self._db.transaction(body)

    async def retranscribe_obstacles(
        self, run_id: int | None, call_ids: Sequence[int]
    ) -> dict[int, str]:
        async def body(cur: Cursor, now: datetime) -> dict[int, str]:
            found = {}
            for call_id in call_ids:
                await cur.execute(OBSTACLE_SQL, (run_id or 0, now, call_id))
                reason = obstacle_of(await cur.fetchone())
                if reason is not None:
                    found[call_id] = reason
            return found

        return await self._db.transaction(body)

    async def retranscribe_speed(self, model: str) -> float | None:
        rows = await self._db.select(
            "SELECT sum(audio_seconds) AS audio, sum(work_seconds) AS work"
            " FROM retranscribe_runs WHERE model = %s",
            (model,),
        )
        audio, work = rows[0]["audio"], rows[0]["work"]
        return float(audio) / float(work) if audio and work else None


async def _run(cur: Cursor, run_id: int, created: bool) -> RetranscribeRun:
    await cur.execute("SELECT * FROM retranscribe_runs WHERE id = %s", (run_id,))
    row = await cur.fetchone()
    await cur.execute(
        "SELECT state, count(*) AS n FROM retranscribe_items WHERE run_id = %s GROUP BY state",
        (run_id,),
    )
    states = [(r["state"], int(r["n"])) for r in await cur.fetchall()]
    if row is None:
        raise KeyError(f"no retranscribe run {run_id}")
    return run_from_row(row, states, created)


async def _held(cur: Cursor, run_id: int, call_id: int, worker: str) -> bool:
    """Whether ``worker`` holds the call; its item stays locked to the transaction's end."""
    await cur.execute(
        "SELECT 1 FROM retranscribe_items WHERE run_id = %s AND call_id = %s"
        " AND state = 'running' AND worker = %s FOR UPDATE",
        (run_id, call_id, worker),
    )
    return await cur.fetchone() is not None


async def _obstacle(cur: Cursor, run_id: int, call_id: int, now: datetime) -> str | None:
    """Why the call cannot be transcribed again now (None: it can), its row locked first:
    the answer holds until the transaction ends."""
    await cur.execute("SELECT 1 FROM calls WHERE id = %s FOR UPDATE", (call_id,))
    await cur.execute(OBSTACLE_SQL, (run_id, now, call_id))
    return obstacle_of(await cur.fetchone())


async def _settle(
    cur: Cursor, run_id: int, call_id: int, now: datetime, *, state: ItemState, reason: str
) -> None:
    await cur.execute(
        "UPDATE retranscribe_items SET state = %s, reason = %s, worker = NULL,"
        " lease_until = NULL, updated_at = %s WHERE run_id = %s AND call_id = %s",
        (state.value, reason, now, run_id, call_id),
    )
