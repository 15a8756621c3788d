"""A call's transcripts as versions, for :class:`~callscribe.store.sqlite.SqliteStore`.

The current transcript lives in ``transcripts``; when another replaces it, it moves to
``transcript_versions`` with the settings it was made with.  Versions count from 1 and are
never reused, not even after retention deleted a transcript (its deliveries remember its
version): a delivery's idempotency key depends on the version it sends.

The writing functions run inside the caller's write transaction, as in ``sqlite_jobs``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from callscribe.domain import Transcript
from callscribe.store.base import TranscriptVersion
from callscribe.store.codec import parse_time
from callscribe.transcription.render import from_json_dict, to_json_dict


def store_transcript(
    conn: sqlite3.Connection,
    call_id: int,
    transcript: Transcript,
    settings: Mapping[str, Any] | None,
    now: str,
) -> int:
    """Make ``transcript`` the call's current one, keeping the one it replaces as a
    version; returns its version."""
    version = next_version(conn, call_id)
    conn.execute(
        "INSERT INTO transcript_versions (call_id, version, document, settings, made_at,"
        " replaced_at) SELECT call_id, version, document, settings, made_at, ?"
        " FROM transcripts WHERE call_id = ?",
        (now, call_id),
    )
    conn.execute("DELETE FROM transcripts WHERE call_id = ?", (call_id,))
    conn.execute(
        "INSERT INTO transcripts (call_id, document, version, settings, made_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            call_id,
            json.dumps(to_json_dict(transcript), ensure_ascii=False),
            version,
            None if settings is None else json.dumps(dict(settings), sort_keys=True),
            now,
        ),
    )
    return version


def next_version(conn: sqlite3.Connection, call_id: int) -> int:
    row = conn.execute(
        "SELECT max(v) FROM (SELECT version AS v FROM transcripts WHERE call_id = ?"
        " UNION ALL SELECT version FROM transcript_versions WHERE call_id = ?"
        " UNION ALL SELECT version FROM deliveries WHERE call_id = ?)",
        (call_id, call_id, call_id),
    ).fetchone()
    return int(row[0] or 0) + 1


def version_from_row(row: sqlite3.Row) -> TranscriptVersion:
    """A row of ``transcripts`` (``replaced_at`` NULL) or ``transcript_versions``."""
    settings = row["settings"]
    made, replaced = row["made_at"], row["replaced_at"]
    return TranscriptVersion(
        version=int(row["version"]),
        transcript=from_json_dict(json.loads(row["document"])),
        settings={} if settings is None else json.loads(settings),
        made_at=None if made is None else parse_time(made),
        replaced_at=None if replaced is None else parse_time(replaced),
    )


# Both tables as one, oldest version first; ``?`` is the call id, twice.
VERSIONS_SQL = (
    "SELECT version, document, settings, made_at, replaced_at FROM transcript_versions"
    " WHERE call_id = ? UNION ALL SELECT version, document, settings, made_at, NULL"
    " FROM transcripts WHERE call_id = ? ORDER BY version"
)
