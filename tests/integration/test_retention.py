"""Retention on a real SQLite file and real recording files (reliability.md R-PII-1/2)."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from callscribe.config.daemon import DaemonSettings, RetentionSettings
from callscribe.config.settings import Settings
from callscribe.daemon.retention import PurgeResult, RetentionTimer, purge
from callscribe.domain import Recording, Segment, Speaker, Transcript
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import Job, JobKind
from callscribe.store.migrations import MIGRATIONS, statements
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import FakeClock, event

DAY = 86400.0
CLIENT = "+79001234567"  # the client number every test event carries


def transcript(text: str) -> Transcript:
    return Transcript(
        segments=(
            Segment(Speaker.OPERATOR, 0.0, 1.5, "Здравствуйте, компания «Ромашка».", -0.2, 0.01),
            Segment(Speaker.CLIENT, 1.8, 4.25, text, -0.3, 0.02),
        ),
        duration=205.0,
        language="ru",
        model="base",
    )


def take(store: SqliteStore, kind: JobKind, call_id: int, sink: str | None = None) -> Job:
    """Claim this call's job of this kind, giving back any other that came along."""
    jobs = store.claim([kind], "test-worker", 60.0, limit=100)
    mine = [j for j in jobs if j.call_id == call_id and (sink is None or j.sink == sink)]
    for job in jobs:
        if job not in mine[:1]:
            store.release(job)
    return mine[0]


def add_call(
    store: SqliteStore,
    recordings_dir: Path,
    n: int,
    stage: str,
    *,
    sinks: Sequence[str] = ("helpdesk",),
    dead: Sequence[str] = (),
    text: str | None = None,
    source: str = "asterisk",
    audio: bytes = b"RIFF" + bytes(range(256)) * 4,
    suffix: str = ".wav",
) -> int:
    """A call taken through the real store API up to ``stage``: received, fetch_failed,
    fetched, transcribe_failed, transcribed, done or no_recording (then delivered, or
    buried for the sinks in ``dead``); its recording file holds ``audio``."""
    recorded = stage != "no_recording"
    call_id = store.ingest(
        event(n, recorded=recorded, source=source), None if recorded else list(sinks)
    ).call_id
    if recorded:
        if stage == "received":
            return call_id
        job = take(store, JobKind.FETCH, call_id)
        if stage == "fetch_failed":
            store.bury(job, "the PBX answered 403 Forbidden")
            return call_id
        folder = recordings_dir / str(call_id)
        folder.mkdir(parents=True)
        path = folder / f"recording-0123456789abcdef{suffix}"
        path.write_bytes(audio)
        digest = hashlib.sha256(audio).hexdigest()
        store.complete_fetch(job, Recording(call_id, str(path), len(audio), digest, job.run_at))
        if stage == "fetched":
            return call_id
        job = take(store, JobKind.TRANSCRIBE, call_id)
        if stage == "transcribe_failed":
            store.bury(job, "unreadable audio")
            return call_id
        store.complete_transcribe(job, transcript(text or f"Вопрос номер {n}."), list(sinks))
        if stage == "transcribed":
            return call_id
    for sink in sinks:
        job = take(store, JobKind.DELIVER, call_id, sink)
        if sink in dead:
            store.bury(job, "the helpdesk answered 422: unknown queue")
        else:
            store.complete_delivery(job, f"T-{call_id}")
    return call_id


def settings(state: Path, **retention: object) -> Settings:
    """Settings for the store's state folder; transcripts kept unless a test says so (the
    purge would measure the fake clock's 2024 against today's date otherwise)."""
    retention.setdefault("transcript_days", None)
    return Settings(
        daemon=DaemonSettings(state_dir=state),
        retention=RetentionSettings.model_validate(retention),
    )


def audit_rows(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


# --- recordings -------------------------------------------------------------------------


async def test_recordings_of_finished_calls_are_deleted_marked_and_audited(
    store: SqliteStore, astore: AsyncStore, state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = state / "recordings"
    done = add_call(store, rec, 1, "done")
    dead = add_call(store, rec, 2, "done", dead=("helpdesk",))
    failed = add_call(store, rec, 3, "transcribe_failed")
    fetched = add_call(store, rec, 4, "fetched")
    pending = add_call(store, rec, 5, "transcribed")
    caplog.set_level(logging.INFO, logger="callscribe.daemon.retention")

    result = await purge(astore, settings(state))

    assert result == PurgeResult(recordings=3)
    for call_id in (done, dead, failed):
        assert not (rec / str(call_id)).exists()  # file and its per-call folder
        assert store.call_facts([call_id])[call_id].recording_purged_at is not None
    for call_id in (fetched, pending):  # not finished: still needed
        assert (rec / str(call_id) / "recording-0123456789abcdef.wav").is_file()
        assert store.call_facts([call_id])[call_id].recording_purged_at is None
    assert [r.call_id for r in store.recordings_to_purge(10)] == []
    (row,) = audit_rows(store.path)
    assert row["category"] == "recording"
    assert row["count"] == 3
    assert json.loads(row["object_ids"]) == [done, dead, failed]
    assert row["reason"] == "recording retention: call finished"
    assert not any(digit in " ".join(map(str, tuple(row))) for digit in ("79001", "4567"))
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [
        "retention: deleted the recordings of 3 finished call(s) "
        "(0 outside the recordings folder left alone, 0 could not be deleted)"
    ]

    # Nothing left to do: no second audit row, no log line.
    caplog.clear()
    assert await purge(astore, settings(state)) == PurgeResult()
    assert len(audit_rows(store.path)) == 1
    assert not caplog.records


async def test_keep_recordings_keeps_them(
    store: SqliteStore, astore: AsyncStore, state: Path
) -> None:
    call_id = add_call(store, state / "recordings", 1, "done")
    result = await purge(astore, settings(state, keep_recordings=True))
    assert result.recordings == 0
    assert (state / "recordings" / str(call_id) / "recording-0123456789abcdef.wav").is_file()
    assert audit_rows(store.path) == []


async def test_while_links_are_served_delivered_recordings_are_kept_their_days(
    store: SqliteStore, astore: AsyncStore, state: Path, clock: FakeClock
) -> None:
    rec = state / "recordings"
    first = add_call(store, rec, 1, "done")
    clock.advance(DAY)
    second = add_call(store, rec, 2, "done", dead=("helpdesk",))
    failed = add_call(store, rec, 3, "transcribe_failed")
    config = Settings(
        daemon=DaemonSettings(state_dir=state, public_url="https://calls.example.com"),
        retention=RetentionSettings(transcript_days=None, linked_recording_days=2),
    )
    assert (await purge(astore, config, now=clock.now)).recordings == 1  # the failed call's
    assert (await purge(astore, config, now=clock.now + timedelta(days=1, hours=1))).recordings == 1
    assert not (rec / str(first)).exists()
    assert (rec / str(second)).is_dir()
    assert (await purge(astore, config, now=clock.now + timedelta(days=2, hours=1))).recordings == 1
    assert not (rec / str(second)).exists()
    reasons = [(row["reason"], json.loads(row["object_ids"])) for row in audit_rows(store.path)]
    kept = "recording retention: call finished; delivered calls' kept 2 days for recording links"
    assert reasons == [(kept, [failed]), (kept, [first]), (kept, [second])]


async def test_a_recording_outside_the_recordings_folder_is_marked_not_deleted(
    store: SqliteStore, astore: AsyncStore, state: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    rec = state / "recordings"
    call_id = add_call(store, rec, 1, "done")
    elsewhere = tmp_path / "elsewhere" / "precious.wav"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"not ours")
    # Point the stored path outside, plainly and through the call's folder with "..".
    sneaky = rec / str(call_id) / ".." / ".." / ".." / "elsewhere" / "precious.wav"
    store._conn.execute("UPDATE recordings SET path = ? WHERE call_id = ?", (str(sneaky), call_id))
    other = add_call(store, rec, 2, "done")
    store._conn.execute("UPDATE recordings SET path = ? WHERE call_id = ?", (str(elsewhere), other))

    result = await purge(astore, settings(state))

    assert result == PurgeResult(recordings=2, outside=2)
    assert elsewhere.read_bytes() == b"not ours"
    assert not (rec / str(call_id)).exists()  # the fetcher's own file there still went
    assert store.call_facts([other])[other].recording_purged_at is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("outside" in w for w in warnings)


async def test_symlinks_are_removed_never_followed(
    store: SqliteStore, astore: AsyncStore, state: Path, tmp_path: Path
) -> None:
    rec = state / "recordings"
    call_id = add_call(store, rec, 1, "done")
    target = tmp_path / "target.wav"
    target.write_bytes(b"someone else's file")
    recording = rec / str(call_id) / "recording-0123456789abcdef.wav"
    recording.unlink()
    recording.symlink_to(target)
    linked_folder_call = add_call(store, rec, 2, "done")
    (rec / str(linked_folder_call) / "recording-0123456789abcdef.wav").unlink()
    (rec / str(linked_folder_call)).rmdir()
    outside_folder = tmp_path / "outside-folder"
    outside_folder.mkdir()
    (outside_folder / "recording-0123456789abcdef.wav").write_bytes(b"keep me")
    (rec / str(linked_folder_call)).symlink_to(outside_folder, target_is_directory=True)

    result = await purge(astore, settings(state))

    assert result.recordings == 2
    assert not recording.is_symlink()
    assert target.read_bytes() == b"someone else's file"
    # The call's "folder" was a link elsewhere: through it the file is outside, kept.
    assert (outside_folder / "recording-0123456789abcdef.wav").read_bytes() == b"keep me"
    assert result.outside == 1


async def test_leftovers_of_the_fetcher_go_other_files_stay(
    store: SqliteStore, astore: AsyncStore, state: Path
) -> None:
    rec = state / "recordings"
    call_id = add_call(store, rec, 1, "done")
    folder = rec / str(call_id)
    (folder / ".callscribe-00ff00ff00ff00ff.part").write_bytes(b"half a recording")
    (folder / "recording-fedcba9876543210.wav").write_bytes(b"an older copy")
    (folder / "notes.txt").write_text("the admin's")

    await purge(astore, settings(state))

    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


async def test_a_file_that_cannot_be_deleted_is_left_unmarked_and_retried(
    store: SqliteStore, astore: AsyncStore, state: Path
) -> None:
    rec = state / "recordings"
    stuck = add_call(store, rec, 1, "done")
    fine = add_call(store, rec, 2, "done")
    # A directory where the file should be: unlink() fails whatever our privileges.
    (rec / str(stuck) / "recording-0123456789abcdef.wav").unlink()
    (rec / str(stuck) / "recording-0123456789abcdef.wav").mkdir()

    result = await purge(astore, settings(state))

    assert result == PurgeResult(recordings=1, failed=1)
    assert not (rec / str(fine)).exists()
    assert [r.call_id for r in store.recordings_to_purge(10)] == [stuck]
    (rec / str(stuck) / "recording-0123456789abcdef.wav").rmdir()  # the admin fixes it
    assert (await purge(astore, settings(state))).recordings == 1
    assert store.recordings_to_purge(10) == []


# --- transcripts ------------------------------------------------------------------------


def file_bytes(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_transcripts_past_retention_are_purged_and_wiped_from_the_files(
    store: SqliteStore, astore: AsyncStore, state: Path, clock: FakeClock
) -> None:
    rec = state / "recordings"
    secret = "Мой пароль SECRET-OLD-4242, запишите."
    # Long enough to spill into overflow pages, which secure_delete must wipe too.
    old = add_call(store, rec, 1, "done", text=secret + " ля" * 3000)
    clock.advance(10 * DAY)
    young = add_call(store, rec, 2, "done", text="Ещё один вопрос SECRET-YOUNG-77.")
    unfinished = add_call(store, rec, 3, "transcribed", text="Жду SECRET-PENDING-9.")
    assert store._conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert b"SECRET-OLD-4242" in file_bytes(store.path)  # the grep below can see it

    clock.advance(19 * DAY)  # the old call finished 29 days ago: kept
    assert (await purge(astore, settings(state, transcript_days=30), now=clock())).transcripts == 0
    assert store.transcript(old) is not None

    clock.advance(2 * DAY)  # 31 days
    result = await purge(astore, settings(state, transcript_days=30), now=clock())

    assert result.transcripts == 1
    assert store.transcript(old) is None
    assert store.transcript(young) is not None
    assert store.transcript(unfinished) is not None
    (row,) = [r for r in audit_rows(store.path) if r["category"] == "transcript"]
    assert (row["count"], json.loads(row["object_ids"])) == (1, [old])
    assert row["reason"] == "transcript retention: 30 days after the call"
    assert row["at"] == clock().isoformat(timespec="microseconds")
    # Checkpointed and zeroed: the text is in neither the database nor its WAL.
    content = file_bytes(store.path)
    assert b"SECRET-OLD-4242" not in content
    assert "SECRET-OLD-4242".encode("utf-16-le") not in content
    assert b"SECRET-YOUNG-77" in content
    assert store.path.with_name(store.path.name + "-wal").stat().st_size == 0


async def test_transcripts_are_kept_forever_when_no_retention_is_set(
    store: SqliteStore, astore: AsyncStore, state: Path, clock: FakeClock
) -> None:
    call_id = add_call(store, state / "recordings", 1, "done")
    clock.advance(3650 * DAY)
    config = settings(state, transcript_days=None, keep_recordings=True)
    assert await purge(astore, config, now=clock()) == PurgeResult()
    assert store.transcript(call_id) is not None


# --- scheduling and schema --------------------------------------------------------------


async def test_the_timer_purges_once_a_minute_and_never_raises(
    store: SqliteStore, astore: AsyncStore, state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    timer = RetentionTimer(clock=lambda: now[0])
    add_call(store, state / "recordings", 1, "done")
    assert await timer(astore, settings(state)) == PurgeResult(recordings=1)
    add_call(store, state / "recordings", 2, "done")
    now[0] += 59.0
    assert await timer(astore, settings(state)) is None  # too soon
    now[0] += 1.0
    assert await timer(astore, settings(state)) == PurgeResult(recordings=1)
    store._conn.execute("DROP TABLE audit")  # the next purge's audit write fails
    add_call(store, state / "recordings", 3, "done")
    now[0] += 60.0
    assert await timer(astore, settings(state)) is None
    assert "retention: the purge failed" in caplog.text


def test_a_version_1_database_is_migrated(state: Path) -> None:
    db = state / "callscribe.db"
    state.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    for statement in statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO calls VALUES (1, 's', 'e', '{}', 'done', NULL, '2024-01-01', '2024-01-01')"
    )
    conn.execute("INSERT INTO recordings VALUES (1, '/r/1.wav', 1, 'ab', '2024-01-01')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = SqliteStore(db)
    try:
        facts = store.call_facts([1])
        assert facts[1].recording_purged_at is None
        assert [r.call_id for r in store.recordings_to_purge(5)] == [1]
        assert store.mark_recordings_purged([1], "test") == 1
    finally:
        store.close()
    assert [row["category"] for row in audit_rows(db)] == ["recording"]
