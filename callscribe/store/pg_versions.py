"""A call's transcripts as versions, for :class:`~callscribe.store.postgres.PostgresStore`:
:mod:`callscribe.store.sqlite_versions` on PostgreSQL, the same statements
(:mod:`batch_rows`).  Runs inside the caller's transaction, which holds the call: the
claim of its job, or its row locked (two new versions of one call cannot interleave).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from callscribe.domain import Transcript
from callscribe.store import batch_rows as sql
from callscribe.store.pg_pool import Cursor


async def store_transcript(
    cur: Cursor,
    call_id: int,
    transcript: Transcript,
    settings: Mapping[str, Any] | None,
    now: datetime,
) -> int:
    """Make ``transcript`` the call's current one, keeping the one it replaces as a
    version; returns its version."""
    await cur.execute(sql.NEXT_VERSION_SQL, (call_id,) * 3)
    row = await cur.fetchone()
    version = int((row or {}).get("v") or 0) + 1
    await cur.execute(sql.KEEP_CURRENT_SQL, (now, call_id))
    await cur.execute("DELETE FROM transcripts WHERE call_id = %s", (call_id,))
    await cur.execute(
        sql.INSERT_CURRENT_SQL, sql.transcript_values(call_id, transcript, version, settings, now)
    )
    return version
