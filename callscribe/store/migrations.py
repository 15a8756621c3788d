"""The SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` is the number of migrations applied.  Each migration runs in its
own ``BEGIN IMMEDIATE`` transaction together with the version bump, and the version is
read again inside that transaction, so two processes starting on a fresh file at once
cannot both apply it.  Never edit a released migration: append a new one.

Times are ISO 8601 text in UTC with microseconds (``2024-05-01T12:00:00.000000+00:00``),
always the same width, so ``ORDER BY`` and ``<`` on the text sort them in time order.
"""

from __future__ import annotations

import sqlite3

from callscribe.errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: calls, their recordings, transcripts, deliveries, and the job queue.
    """
    CREATE TABLE calls (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        external_id TEXT NOT NULL,
        event       TEXT NOT NULL,  -- callscribe.store.codec JSON
        state       TEXT NOT NULL,
        error       TEXT,
        received_at TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        UNIQUE (source, external_id)
    );
    CREATE INDEX calls_state ON calls (state, received_at);

    CREATE TABLE recordings (
        call_id    INTEGER PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        size       INTEGER NOT NULL,
        sha256     TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    );

    CREATE TABLE transcripts (
        call_id  INTEGER PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
        document TEXT NOT NULL  -- callscribe.transcription.render JSON format
    );

    CREATE TABLE deliveries (
        call_id         INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        sink            TEXT NOT NULL,
        state           TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        attempts        INTEGER NOT NULL DEFAULT 0,
        remote_id       TEXT,
        error           TEXT,
        delivered_at    TEXT,
        UNIQUE (call_id, sink)
    );
    CREATE INDEX deliveries_state ON deliveries (state);

    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        call_id     INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        sink        TEXT,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        stalls      INTEGER NOT NULL DEFAULT 0,
        run_at      TEXT NOT NULL,
        lease_until TEXT,
        worker      TEXT,
        error       TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    -- The same step of the same call can be waiting or running only once (R-Q-3);
    -- finished rows stay as history and do not block a later job with the same key.
    CREATE UNIQUE INDEX jobs_active_key ON jobs (kind, call_id, coalesce(sink, ''))
        WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_claim ON jobs (state, kind, run_at);
    CREATE INDEX jobs_call ON jobs (call_id);
    """,
    # 2: retention (R-PII-1, R-PII-2): when a recording's file was deleted, and the audit
    # trail of every deletion.  An audit row names objects by id only, never by content.
    """
    ALTER TABLE recordings ADD COLUMN purged_at TEXT;
    -- Finished calls whose recording is still on disk: what the purge looks for.
    CREATE INDEX recordings_unpurged ON recordings (call_id) WHERE purged_at IS NULL;
    -- A finished call's updated_at is when it finished: transcript retention counts from it.
    CREATE INDEX calls_finished ON calls (state, updated_at);

    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        category   TEXT NOT NULL,  -- what was deleted: 'recording', 'transcript'
        count      INTEGER NOT NULL,
        object_ids TEXT NOT NULL,  -- JSON array of call ids
        reason     TEXT NOT NULL
    );
    CREATE INDEX audit_at ON audit (at);
    """,
    # 3: what a sink has already done on the remote side for a delivery (a ticket it
    # created, a comment it posted), saved the moment it is known, so an attempt after a
    # crash between the platform's answer and our commit continues instead of repeating.
    """
    ALTER TABLE deliveries ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
    """,
    # 4: notifications that are each one part of a call (UIS's call end and recorded talk,
    # Mango's summary and record/added), kept from the moment they are acknowledged until
    # the source joins them into one call.
    """
    CREATE TABLE call_parts (
        source      TEXT NOT NULL,
        external_id TEXT NOT NULL,
        part        TEXT NOT NULL,
        data        TEXT NOT NULL,  -- JSON object, the vendor's fields
        received_at TEXT NOT NULL,
        PRIMARY KEY (source, external_id, part)
    );
    CREATE INDEX call_parts_age ON call_parts (received_at);
    """,
    # 5: the days `callscribe backfill` finished reading from a source's vendor, so an
    # interrupted backfill resumes after them (the calls dedupe on (source, external_id)).
    """
    CREATE TABLE backfill_days (
        source      TEXT NOT NULL,
        day         TEXT NOT NULL,  -- YYYY-MM-DD, in the source's time zone
        calls       INTEGER NOT NULL,  -- found that day
        new_calls   INTEGER NOT NULL,  -- of those, stored by the backfill that finished it
        finished_at TEXT NOT NULL,
        PRIMARY KEY (source, day)
    );
    """,
    # 6: batch work on stored calls (issue 20).  A transcript made again keeps the one it
    # replaces as a version, with the settings each was made with; a delivery belongs to
    # one version of the transcript, so sending a newer version to a sink that has an
    # older one is a delivery of its own (its own idempotency key).  `callscribe
    # retranscribe` records each run and how far it got, so a stopped run resumes.
    """
    ALTER TABLE transcripts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    -- JSON object: the [transcription] settings that shape the text; NULL: not recorded.
    ALTER TABLE transcripts ADD COLUMN settings TEXT;
    ALTER TABLE transcripts ADD COLUMN made_at TEXT;  -- NULL: made before versions were kept

    CREATE TABLE transcript_versions (
        call_id     INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        document    TEXT NOT NULL,
        settings    TEXT,
        made_at     TEXT,
        replaced_at TEXT NOT NULL,
        PRIMARY KEY (call_id, version)
    );

    -- SQLite cannot change a table's UNIQUE constraint: deliveries is rebuilt with a
    -- version, one delivery per (call, sink, version) instead of per (call, sink).
    CREATE TABLE deliveries_by_version (
        call_id         INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        sink            TEXT NOT NULL,
        version         INTEGER NOT NULL DEFAULT 1,
        state           TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        attempts        INTEGER NOT NULL DEFAULT 0,
        remote_id       TEXT,
        error           TEXT,
        delivered_at    TEXT,
        progress        TEXT NOT NULL DEFAULT '{}',
        UNIQUE (call_id, sink, version)
    );
    INSERT INTO deliveries_by_version (call_id, sink, version, state, idempotency_key,
        attempts, remote_id, error, delivered_at, progress)
        SELECT call_id, sink, 1, state, idempotency_key, attempts, remote_id, error,
        delivered_at, progress FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_by_version RENAME TO deliveries;
    CREATE INDEX deliveries_state ON deliveries (state);
    -- A DELIVER job works on the delivery of this version (one job per call and sink at a
    -- time, as before: versions go out in order).
    ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

    CREATE TABLE retranscribe_runs (
        id            INTEGER PRIMARY KEY,
        key           TEXT NOT NULL UNIQUE,  -- digest of what was asked: same command, same run
        request       TEXT NOT NULL,  -- JSON: the filters and settings asked for
        model         TEXT NOT NULL,
        audio_seconds REAL NOT NULL DEFAULT 0,  -- transcribed so far, by every attempt
        work_seconds  REAL NOT NULL DEFAULT 0,  -- wall time those attempts took
        started_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE TABLE retranscribe_items (
        run_id      INTEGER NOT NULL REFERENCES retranscribe_runs (id) ON DELETE CASCADE,
        call_id     INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        state       TEXT NOT NULL,  -- queued, running, done, skipped, failed
        worker      TEXT,
        lease_until TEXT,
        version     INTEGER,  -- the transcript version it made (done)
        reason      TEXT,  -- why skipped or failed
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (run_id, call_id)
    );
    CREATE INDEX retranscribe_items_call ON retranscribe_items (call_id, state);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, name: str) -> None:
    """Bring the database up to :data:`SCHEMA_VERSION`; ``name`` is used in messages.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    found = user_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{name} was written by a newer callscribe (schema version {found}, this "
            f"version knows up to {SCHEMA_VERSION}); upgrade callscribe or use another "
            "state directory"
        )
    for target, script in enumerate(MIGRATIONS, start=1):
        if found >= target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if user_version(conn) < target:
                for statement in statements(script):
                    conn.execute(statement)
                # PRAGMA values cannot be bound; target is an int from enumerate().
                conn.execute(f"PRAGMA user_version = {target:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        found = target


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def statements(script: str) -> list[str]:
    """Split a script into statements.

    ``executescript`` would commit before running, which breaks the one-transaction rule;
    ``complete_statement`` knows about quotes and trigger bodies, a naive split does not.
    """
    result: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                result.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")
    return result
