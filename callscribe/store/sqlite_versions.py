"""A call's transcripts as versions, for :class:`~callscribe.store.sqlite.SqliteStore`.

The current transcript lives in ``transcripts``; when another replaces it, it moves to
``transcript_versions`` with the settings it was made with.  Versions count from 1 and are
never reused, not even after retention deleted a transcript (its deliveries remember its
version): a delivery's idempotency key depends on the version it sends.  The statements
are :mod:`batch_rows`' (PostgreSQL's store runs the same ones).

The writing functions run inside the caller's write transaction, as in ``sqlite_jobs``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from callscribe.domain import Transcript
from callscribe.store import batch_rows as sql
from callscribe.store.batch_rows import transcript_values


def qmarks(statement: str) -> str:
    """A statement of :mod:`batch_rows` (psycopg's ``%s``) with SQLite's ``?``."""
    return statement.replace("%s", "?")


VERSIONS_SQL = qmarks(sql.VERSIONS_SQL)


def store_transcript(
    conn: sqlite3.Connection,
    call_id: int,
    transcript: Transcript,
    settings: Mapping[str, Any] | None,
    now: str,
) -> int:
    """Make ``transcript`` the call's current one, keeping the one it replaces as a
    version; returns its version."""
    row = conn.execute(qmarks(sql.NEXT_VERSION_SQL), (call_id,) * 3).fetchone()
    version = int(row[0] or 0) + 1
    conn.execute(qmarks(sql.KEEP_CURRENT_SQL), (now, call_id))
    conn.execute("DELETE FROM transcripts WHERE call_id = ?", (call_id,))
    conn.execute(
        qmarks(sql.INSERT_CURRENT_SQL),
        transcript_values(call_id, transcript, version, settings, now),
    )
    return version
