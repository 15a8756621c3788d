"""The store's batch operations, on a SQLite file and on a real PostgreSQL database (each
test runs on both, through the same Store methods, as the contract suite does): transcript
versions, deliveries of a newer transcript, retranscribe runs beside the service's queue,
imports, finding calls and erasing them (issue 20)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from callscribe.domain import CallPart, CallState, DeliveryState, Transcript
from callscribe.store.base import (
    CallFilter,
    ItemState,
    JobKind,
    JobState,
    RecordingFile,
    Store,
)
from callscribe.store.blocking import BlockingStore
from callscribe.store.codec import idempotency_key
from callscribe.store.migrations import MIGRATIONS, statements
from callscribe.store.pg_pool import PgTarget
from callscribe.store.pg_schema import MIGRATIONS as PG_MIGRATIONS
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore
from callscribe.testing_postgres import PostgresCluster
from callscribe.transcription.render import to_json_dict
from tests.integration.both_stores import Database, Opener
from tests.integration.store_values import FakeClock, event, parallel, recording_for
from tests.integration.test_retention import CLIENT, add_call, take, transcript

BEAM3 = {"model": "base", "language": "ru", "beam_size": 3}
LEASE = 60.0


@pytest.fixture
def store(open_store: Opener, clock: FakeClock) -> Store:
    return open_store(clock=clock)


def retranscribed(text: str) -> Transcript:
    return dataclasses.replace(transcript(text), model="small")


def new_run(store: Store, call_ids: list[int], key: str = "k1") -> int:
    return store.start_retranscribe(key, {"set": {"beam_size": 3}}, "base", call_ids).id


def redo(store: Store, call_id: int, text: str, sinks: tuple[str, ...] = ()) -> int:
    """Transcribe the call again through a run of its own; returns the new version."""
    run = new_run(store, [call_id], key=f"redo-{call_id}-{text}")
    (claimed,) = store.claim_retranscribe(run, "w1", LEASE, 10)
    version = store.save_retranscription(
        run, claimed.id, "w1", retranscribed(text), settings=BEAM3, redeliver_to=sinks
    )
    assert version is not None
    return version


# --- versions --------------------------------------------------------------------------


def test_a_new_transcript_keeps_the_old_one_as_a_version(store: Store, tmp_path: Path) -> None:
    call_id = add_call(store, tmp_path, 1, "done", text="Первый вариант.")

    assert redo(store, call_id, "Второй вариант.") == 2
    assert redo(store, call_id, "Третий вариант.") == 3

    versions = store.transcript_versions(call_id)
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.transcript.segments[1].text for v in versions] == [
        "Первый вариант.", "Второй вариант.", "Третий вариант.",
    ]  # fmt: skip
    assert versions[0].settings == {}  # made by complete_transcribe without settings
    assert versions[1].settings == BEAM3
    assert versions[0].replaced_at is not None
    assert versions[2].replaced_at is None
    assert store.transcript(call_id) == versions[2].transcript
    assert store.transcript(call_id, 1) == versions[0].transcript
    assert store.transcript(call_id, 7) is None
    assert store.call(call_id).state is CallState.DONE  # nothing to deliver again


def test_versions_are_never_reused_after_retention(store: Store, tmp_path: Path) -> None:
    call_id = add_call(store, tmp_path, 1, "done")
    assert store.purge_transcripts(datetime(2100, 1, 1, tzinfo=UTC), "test") == 1
    assert store.transcript_versions(call_id) == []
    # Its delivery of version 1 is remembered: the next transcript is version 2.
    assert redo(store, call_id, "Снова.", ("helpdesk",)) == 2
    keys = {d.version: d.idempotency_key for d in store.deliveries(call_id)}
    assert keys[2] != keys[1]


def test_complete_transcribe_records_its_settings(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1)).call_id
    job = take(store, JobKind.FETCH, call_id)
    store.complete_fetch(job, recording_for(job, clock))
    job = take(store, JobKind.TRANSCRIBE, call_id)
    store.complete_transcribe(job, transcript("Да."), ["a"], {"beam_size": 5})
    (version,) = store.transcript_versions(call_id)
    assert (version.version, version.settings, version.made_at) == (1, {"beam_size": 5}, clock())


# --- deliveries of a newer transcript ---------------------------------------------------


def test_redelivery_is_a_delivery_of_its_own_sent_after_the_earlier_one(
    store: Store, tmp_path: Path
) -> None:
    # "sent" got version 1; "waiting" has version 1 still pending; "tqm" is not asked.
    call_id = add_call(store, tmp_path, 1, "transcribed", sinks=("sent", "waiting", "tqm"))
    store.complete_delivery(take(store, JobKind.DELIVER, call_id, "sent"), "T-1")

    version = redo(store, call_id, "Исправлено.", ("sent", "waiting", "never-routed"))

    assert version == 2
    by_key = {(d.sink, d.version): d for d in store.deliveries(call_id)}
    assert set(by_key) == {("sent", 1), ("sent", 2), ("waiting", 1), ("waiting", 2), ("tqm", 1)}
    assert by_key["sent", 2].idempotency_key == idempotency_key("asterisk", "call-1", "sent", 2)
    assert by_key["sent", 1].idempotency_key == idempotency_key("asterisk", "call-1", "sent")
    queued = {(j.sink, j.version) for j in store.jobs(JobState.QUEUED, JobKind.DELIVER)}
    # One job per sink at a time: "waiting" delivers version 1 first.
    assert queued == {("sent", 2), ("waiting", 1), ("tqm", 1)}

    job = take(store, JobKind.DELIVER, call_id, "waiting")
    assert job.version == 1
    store.bury(job, "the helpdesk answered 422")  # settled: version 2 comes next
    job = take(store, JobKind.DELIVER, call_id, "waiting")
    assert job.version == 2
    store.save_delivery_progress(call_id, "waiting", {"ticket_id": 9}, version=2)
    store.complete_delivery(job, "T-9")
    store.complete_delivery(take(store, JobKind.DELIVER, call_id, "sent"), "T-1")
    store.complete_delivery(take(store, JobKind.DELIVER, call_id, "tqm"), None)

    states = {(d.sink, d.version): d.state for d in store.deliveries(call_id)}
    assert states[("waiting", 1)] is DeliveryState.DEAD
    assert states[("waiting", 2)] is DeliveryState.DELIVERED
    assert store.deliveries(call_id, sink="waiting")[1].progress == {"ticket_id": 9}
    assert store.call(call_id).state is CallState.DONE


def test_reviving_an_earlier_dead_delivery_waits_for_the_running_one(
    store: Store, tmp_path: Path
) -> None:
    call_id = add_call(store, tmp_path, 1, "done", sinks=("hd",), dead=("hd",))
    redo(store, call_id, "Исправлено.", ("hd",))
    running = take(store, JobKind.DELIVER, call_id, "hd")
    assert running.version == 2

    assert store.revive_delivery(call_id, "hd")  # version 1 again, behind version 2
    assert store.jobs(JobState.QUEUED, JobKind.DELIVER) == []
    store.complete_delivery(running, "T-2")
    (queued,) = store.jobs(JobState.QUEUED, JobKind.DELIVER)
    assert queued.version == 1
    assert {d.version: d.state for d in store.deliveries(call_id)} == {
        1: DeliveryState.PENDING, 2: DeliveryState.DELIVERED,
    }  # fmt: skip


# --- retranscribe runs ------------------------------------------------------------------


def test_claim_skips_calls_that_cannot_be_redone_now(store: Store, tmp_path: Path) -> None:
    ids = {
        stage: add_call(store, tmp_path, n, stage)
        for n, stage in enumerate(("done", "received", "fetched", "transcribe_failed"), 1)
    }
    ids["missed"] = add_call(store, tmp_path, 9, "no_recording")
    held = add_call(store, tmp_path, 10, "done")
    other = new_run(store, [held], key="other")
    assert [c.id for c in store.claim_retranscribe(other, "w-other", LEASE, 5)] == [held]

    run = new_run(store, [*ids.values(), held])
    claimed = store.claim_retranscribe(run, "w1", LEASE, 10)

    assert [c.id for c in claimed] == [ids["done"]]
    reasons = {i.call_id: i.reason for i in store.retranscribe_items(run)}
    assert reasons[ids["received"]] == "the service has not transcribed it yet"
    assert reasons[ids["fetched"]] == "the service has not transcribed it yet"
    assert "calls retry" in str(reasons[ids["transcribe_failed"]])
    assert reasons[ids["missed"]] == "the call has no recording"
    assert reasons[held] == "another retranscribe (w-other) is working on it"


def test_the_same_request_resumes_and_again_starts_over(store: Store, tmp_path: Path) -> None:
    ids = [add_call(store, tmp_path, n, "done") for n in (1, 2, 3)]
    first = store.start_retranscribe("k", {"a": 1}, "base", ids[:2])
    assert first.created
    run = first.id
    (one, two) = store.claim_retranscribe(run, "w1", LEASE, 5)
    assert store.save_retranscription(run, one.id, "w1", transcript("x"), settings={}) == 2
    assert store.release_retranscribe(run, "w1") == 1  # Ctrl-C: the second goes back

    again = store.start_retranscribe("k", {"a": 1}, "base", ids)  # a new call matches now
    assert (again.id, again.created) == (run, False)
    assert again.counts[ItemState.DONE] == 1
    assert again.counts[ItemState.QUEUED] == 2
    assert [c.id for c in store.claim_retranscribe(run, "w2", LEASE, 5)] == [two.id, ids[2]]

    store.release_retranscribe(run, "w2")
    over = store.start_retranscribe("k", {"a": 1}, "base", ids, again=True)
    assert over.counts[ItemState.QUEUED] == 3


def test_an_expired_lease_is_taken_over_and_the_old_worker_saves_nothing(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    call_id = add_call(store, tmp_path, 1, "done")
    run = new_run(store, [call_id])
    store.claim_retranscribe(run, "dead-worker", 30.0, 1)
    assert store.claim_retranscribe(run, "w2", 30.0, 1) == []  # still leased
    clock.advance(31)
    assert [c.id for c in store.claim_retranscribe(run, "w2", 30.0, 1)] == [call_id]

    late = store.save_retranscription(run, call_id, "dead-worker", transcript("x"), settings={})
    assert late is None
    assert not store.settle_retranscribe(run, call_id, "dead-worker", ItemState.FAILED, "x")
    assert store.save_retranscription(run, call_id, "w2", transcript("y"), settings={}) == 2


def test_the_service_queueing_work_meanwhile_wins(
    store: Store, database: Database, tmp_path: Path
) -> None:
    call_id = add_call(store, tmp_path, 1, "done")
    run = new_run(store, [call_id])
    store.claim_retranscribe(run, "w1", LEASE, 1)
    # The service got a TRANSCRIBE job for it meanwhile (today only by hand: `calls
    # retry` takes failed calls only, and retranscribe takes done ones).
    now = datetime.now(UTC)
    database.sql(
        "INSERT INTO jobs (kind, call_id, state, run_at, created_at, updated_at)"
        " VALUES ('transcribe', %s, 'queued', %s, %s, %s)",
        (call_id, now, now, now),
    )

    assert store.save_retranscription(run, call_id, "w1", transcript("x"), settings={}) is None
    (item,) = store.retranscribe_items(run)
    assert (item.state, item.reason) == (
        ItemState.SKIPPED, "the service is fetching or transcribing it right now",
    )  # fmt: skip
    assert len(store.transcript_versions(call_id)) == 1
    database.sql("UPDATE retranscribe_items SET state = 'queued'")
    assert store.claim_retranscribe(run, "w1", LEASE, 1) == []


def test_two_commands_never_claim_the_same_call(open_store: Opener, tmp_path: Path) -> None:
    setup = open_store()
    ids = [add_call(setup, tmp_path, n, "done") for n in range(40)]
    run = new_run(setup, ids)
    setup.close()

    def worker(n: int) -> list[int]:
        store = open_store()
        taken: list[int] = []
        try:
            while batch := store.claim_retranscribe(run, f"w{n}", LEASE, 3):
                taken += [c.id for c in batch]
        finally:
            store.close()
        return taken

    claims = parallel(4, worker)
    everything = [call_id for taken in claims for call_id in taken]
    assert sorted(everything) == sorted(ids)


def test_speed_of_earlier_runs(store: Store) -> None:
    run = store.start_retranscribe("k", {}, "base", []).id
    assert store.retranscribe_speed("base") is None
    store.record_retranscribe_work(run, 600.0, 30.0)
    store.record_retranscribe_work(run, 300.0, 15.0)
    assert store.retranscribe_speed("base") == pytest.approx(20.0)
    assert store.retranscribe_speed("small") is None


# --- imports ----------------------------------------------------------------------------


def _recording(call_id: int = 0) -> RecordingFile:
    return RecordingFile(f"/state/recordings/import/{call_id}/recording.wav", 10, "ab" * 32)


def test_an_imported_call_is_transcribed_and_routed_once(store: Store) -> None:
    first = store.import_call(
        event(1), _recording(), transcript("Алло."), settings=BEAM3, sinks=["hd"]
    )
    again = store.import_call(event(1), _recording(), transcript("Другое."), sinks=["hd"])

    assert first.created
    assert not again.created
    assert again.call_id == first.call_id
    call_id = first.call_id or 0
    assert store.call(call_id).state is CallState.TRANSCRIBED
    assert store.recording(call_id) is not None
    assert store.transcript_versions(call_id)[0].settings == BEAM3
    assert [(j.kind, j.sink) for j in store.jobs(JobState.QUEUED)] == [(JobKind.DELIVER, "hd")]


def test_an_import_that_could_not_be_transcribed_is_retried_by_calls_retry(
    store: Store,
) -> None:
    call_id = store.import_call(event(2), _recording(), None, error="not a WAV file").call_id
    call = store.call(call_id or 0)
    assert (call.state, call.error) == (CallState.FAILED, "transcribe: not a WAV file")
    assert store.revive_call(call_id or 0) is JobKind.TRANSCRIBE


# --- finding calls ----------------------------------------------------------------------


def test_find_calls_filters(store: Store, tmp_path: Path) -> None:
    msk = timezone(timedelta(hours=3))
    changes = {
        "started_at": datetime(2024, 6, 1, 0, 30, tzinfo=msk),
        "client_number": "8 (912) 000-11-22",
        "operator_id": "202",
    }
    ids = [
        add_call(store, tmp_path, 1, "done", text="Вопрос про Тариф 1."),
        add_call(store, tmp_path, 2, "done", text="Вопрос про Тариф 2.", changes=changes),
    ]

    def found(**where: object) -> list[int]:
        return [c.id for c in store.find_calls(CallFilter(**where))]  # type: ignore[arg-type]

    assert found() == [ids[1], ids[0]]  # the latest call first
    # 00:30 in Moscow is 21:30 UTC the day before: compared as instants.
    assert found(since=datetime(2024, 5, 31, 21, 0, tzinfo=UTC)) == [ids[1]]
    assert found(until=datetime(2024, 5, 31, 21, 0, tzinfo=UTC)) == [ids[0]]
    assert found(number="+79120001122") == [ids[1]]
    assert found(number="912 000 11 22") == [ids[1]]
    assert found(number=CLIENT) == [ids[0]]
    assert found(operator="202") == [ids[1]]
    assert found(text="тариф 2") == [ids[1]]  # Cyrillic, any case
    assert found(text="ТАРИФ") == [ids[1], ids[0]]
    assert found(state=CallState.FAILED) == []
    assert found(call_ids=(ids[0],), source="asterisk") == [ids[0]]
    assert [c.id for c in store.find_calls(CallFilter(), limit=1)] == [ids[1]]


# --- erasure ----------------------------------------------------------------------------


def test_number_traces_and_erasure(store: Store, database: Database, tmp_path: Path) -> None:
    mine = add_call(store, tmp_path, 1, "done", sinks=("a", "b"))
    raw = {"contact": "8 900 123-45-67"}
    raw_only = add_call(
        store, tmp_path, 2, "done", source="uis", changes={"client_number": None, "raw": raw}
    )
    other = add_call(
        store, tmp_path, 3, "done", text="Перезвоните на 8 900 123 45 67.",
        changes={"client_number": "+79005550000"},
    )  # fmt: skip
    store.add_call_part(CallPart("uis", "x-1", "end", {"caller": "79001234567"}))
    busy = add_call(store, tmp_path, 4, "transcribed", sinks=("a",))
    posting = take(store, JobKind.DELIVER, busy, "a")  # a worker is posting it right now

    traces = store.number_traces("+7 900 123-45-67")
    assert traces.call_ids == (mine, raw_only, busy)
    assert traces.call_parts == 1
    assert traces.mentioned_in == (other,)
    counts = store.erasure_counts([mine, raw_only])
    assert counts == {
        "call": 2, "recording": 2, "transcript": 2, "transcript_version": 0, "delivery": 3,
        "job": 7,
    }  # fmt: skip

    erased = store.erase_calls(list(traces.call_ids), "erasure on request")
    assert store.erase_call_parts("89001234567", "erasure on request") == 1

    assert erased.calls == (mine, raw_only)
    assert erased.busy == (busy,)
    assert erased.counts == counts
    assert len(erased.delivery_keys) == 3
    assert erased.wal_emptied
    assert [c.id for c in store.find_calls(CallFilter())] == [busy, other]
    rows = database.sql("SELECT * FROM audit ORDER BY id")
    written = {kind: count for kind, count in counts.items() if count}
    assert {r["category"]: r["count"] for r in rows} == {**written, "call_part": 1}
    assert all("1234567" not in json.dumps(r, default=str) for r in rows)
    # Left: the busy call and the call of another number that said it (its transcript).
    store.complete_delivery(posting, "T-4")
    store.erase_calls([busy, other], "the rest")
    assert "1234567" not in database.every_table()
    with pytest.raises(ValueError, match="not a phone number"):
        store.number_traces("101")


def test_finished_calls_in_pages(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    ids = [add_call(store, tmp_path, n, "done") for n in range(5)]
    add_call(store, tmp_path, 9, "transcribed")
    cutoff = clock() + timedelta(seconds=1)
    assert store.finished_calls(cutoff, 3) == ids[:3]
    assert store.finished_calls(cutoff, 3, after_id=ids[2]) == ids[3:]
    assert store.finished_calls(clock() - timedelta(days=1), 3) == []


# --- the schema -------------------------------------------------------------------------


def test_a_version_5_database_keeps_its_deliveries_and_keys(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:5]:
        for statement in statements(script):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO calls VALUES (1, 's', 'e', '{}', 'done', NULL, '2024-01-01', '2024-01-01')"
    )
    conn.execute("INSERT INTO transcripts VALUES (1, ?)", (OLD_DOCUMENT,))
    conn.execute(
        "INSERT INTO deliveries VALUES (1, 'hd', 'delivered', ?, 1, 'T-1', NULL,"
        " '2024-01-01', '{\"ticket_id\": 5}')",
        (OLD_KEY,),
    )
    conn.execute("PRAGMA user_version = 5")
    conn.close()

    _assert_kept(SqliteStore(db))


def test_a_version_5_postgresql_database_keeps_its_deliveries_and_keys(
    postgres: PostgresCluster,
) -> None:
    target = PgTarget(postgres.database(), postgres.password)
    with psycopg.connect(target.url, password=target.password, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, script in enumerate(PG_MIGRATIONS[:5], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO calls (id, source, external_id, event, state, received_at, updated_at)"
            " VALUES (1, 's', 'e', '{}', 'done', now(), now())"
        )
        conn.execute("INSERT INTO transcripts VALUES (1, %s)", (OLD_DOCUMENT,))
        conn.execute(
            "INSERT INTO deliveries (call_id, sink, state, idempotency_key, attempts, remote_id,"
            " delivered_at, progress) VALUES (1, 'hd', 'delivered', %s, 1, 'T-1', now(),"
            " '{\"ticket_id\": 5}')",
            (OLD_KEY,),
        )

    _assert_kept(BlockingStore(lambda: PostgresStore.open(target, pool_size=2)))


OLD_KEY = idempotency_key("s", "e", "hd")
OLD_DOCUMENT = json.dumps(to_json_dict(transcript("Да.")))


def _assert_kept(store: Store) -> None:
    """A call delivered before migration 6: its delivery is of version 1, with its key and
    what the sink saved; its transcript is version 1, of unknown settings."""
    try:
        (delivery,) = store.deliveries(1)
        assert (delivery.version, delivery.idempotency_key) == (1, OLD_KEY)
        assert delivery.progress == {"ticket_id": 5}
        (version,) = store.transcript_versions(1)
        assert (version.version, version.settings, version.made_at) == (1, {}, None)
    finally:
        store.close()
