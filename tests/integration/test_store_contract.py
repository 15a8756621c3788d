"""The store contract (callscribe/store/base.py), on both stores: every test here runs
on a SQLite file and on a real PostgreSQL database, through the same ``Store`` methods
the CLI uses (PostgreSQL's through BlockingStore, i.e. the daemon's async code)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from callscribe.domain import CallPart, CallState, DeliveryState
from callscribe.store.base import Ingested, JobKind, JobState, Limits, Store
from callscribe.store.blocking import BlockingStore
from callscribe.store.codec import idempotency_key, utc_now
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import (
    T0,
    TRANSCRIPT,
    FakeClock,
    event,
    parallel,
    recording_for,
)

LIMITS = Limits()


class Opener(Protocol):
    """Another connection to the test's database (a second node, a reopen)."""

    def __call__(self, *, clock: FakeClock | None = None, limits: Limits = ...) -> Store: ...


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "state" / "callscribe.db"

        def open_sqlite(*, clock: FakeClock | None = None, limits: Limits = LIMITS) -> Store:
            store = SqliteStore(path, clock=clock or utc_now, limits=limits)
            opened.append(store)
            return store

        yield open_sqlite
    else:
        cluster = request.getfixturevalue("postgres")
        target = PgTarget(cluster.database(), cluster.password)

        def open_postgres(*, clock: FakeClock | None = None, limits: Limits = LIMITS) -> Store:
            store = BlockingStore(
                lambda: PostgresStore.open(target, clock=clock, limits=limits, pool_size=2)
            )
            opened.append(store)
            return store

        yield open_postgres
    for store in opened:
        store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(open_store: Opener, clock: FakeClock) -> Store:
    return open_store(clock=clock)


def test_ingest_is_idempotent_across_ten_connections(open_store: Opener) -> None:
    open_store().close()

    def ingest(_: int) -> Ingested:
        s = open_store()
        try:
            return s.ingest(event(1))
        finally:
            s.close()

    results = parallel(10, ingest)
    assert sum(r.created for r in results) == 1
    assert len({r.call_id for r in results}) == 1
    s = open_store()
    assert len(s.calls()) == 1
    assert len(s.jobs()) == 1
    s.close()


def test_fifty_concurrent_queue_deliveries_give_one_delivery(open_store: Opener) -> None:
    first = open_store()
    call_id = first.ingest(event(1, recorded=False)).call_id

    def queue(_: int) -> None:
        s = open_store()
        try:
            s.queue_deliveries(call_id, ["zendesk"])
        finally:
            s.close()

    parallel(50, queue)
    assert len(first.deliveries(call_id)) == 1
    assert len(first.jobs(kind=JobKind.DELIVER)) == 1
    first.close()


def test_event_round_trips_through_the_store(store: Store) -> None:
    original = event(7)
    call = store.call(store.ingest(original).call_id)
    assert call.event == original
    assert call.event.ended_at is not None
    assert call.event.ended_at.utcoffset() == timedelta(hours=3)  # the zone is kept
    assert call.state is CallState.RECEIVED
    assert call.received_at == T0


def test_claim_takes_the_oldest_due_jobs_up_to_the_limit(store: Store, clock: FakeClock) -> None:
    for n in range(3):
        store.ingest(event(n))
    jobs = store.claim([JobKind.FETCH], "w", 60, limit=10)
    assert [j.attempts for j in jobs] == [1, 1, 1]
    assert all(j.state is JobState.RUNNING and j.worker == "w" for j in jobs)
    for job, later in zip(jobs, (30, 10, 20), strict=True):
        store.retry(job, "not ready", clock() + timedelta(seconds=later))
    assert store.claim([JobKind.TRANSCRIBE], "w", 60, limit=10) == []
    clock.advance(60)
    first_two = store.claim([JobKind.FETCH], "w", 60, limit=2)
    assert [j.id for j in first_two] == [jobs[1].id, jobs[2].id]
    assert [j.id for j in store.claim([JobKind.FETCH], "w", 60, limit=2)] == [jobs[0].id]
    assert store.claim([JobKind.FETCH], "w", 60) == []


def test_concurrent_workers_never_claim_the_same_job(open_store: Opener) -> None:
    setup = open_store()
    for n in range(200):
        setup.ingest(event(n))

    def work(i: int) -> list[int]:
        s = open_store()
        taken: list[int] = []
        try:
            while batch := s.claim([JobKind.FETCH], f"worker-{i}", 60, limit=3):
                taken.extend(j.id for j in batch)
        finally:
            s.close()
        return taken

    claimed = [job_id for taken in parallel(4, work) for job_id in taken]
    assert len(claimed) == 200
    assert len(set(claimed)) == 200
    assert len(setup.jobs(state=JobState.RUNNING)) == 200
    setup.close()


def test_retry_is_not_claimable_before_run_at(store: Store, clock: FakeClock) -> None:
    store.ingest(event(1))
    [job] = store.claim([JobKind.FETCH], "w", 60)
    store.retry(job, "404: recording not ready", clock() + timedelta(seconds=300))
    [queued] = store.jobs(state=JobState.QUEUED)
    assert queued.error == "404: recording not ready"
    assert queued.lease_until is None
    clock.advance(299)
    assert store.claim([JobKind.FETCH], "w", 60) == []
    clock.advance(2)
    [again] = store.claim([JobKind.FETCH], "w", 60)
    assert again.id == job.id
    assert again.attempts == 2


def test_release_gives_the_job_back_without_counting_the_attempt(store: Store) -> None:
    store.ingest(event(1))
    [job] = store.claim([JobKind.FETCH], "w", 60)
    store.release(job)
    [queued] = store.jobs()
    assert (queued.state, queued.attempts, queued.worker) == (JobState.QUEUED, 0, None)
    assert store.jobs(state=JobState.RUNNING) == []
    [again] = store.claim([JobKind.FETCH], "w2", 60)
    assert again.attempts == 1


def test_expired_lease_is_swept_back_and_claimable(store: Store, clock: FakeClock) -> None:
    store.ingest(event(1))
    [job] = store.claim([JobKind.FETCH], "w1", 60)
    clock.advance(50)
    assert store.heartbeat([job.id], "w1", 60) == 1
    assert store.heartbeat([job.id], "someone-else", 60) == 0
    clock.advance(50)
    assert store.sweep() == 0  # the heartbeat moved the lease to t+110
    clock.advance(11)
    assert store.sweep() == 1
    [queued] = store.jobs()
    assert (queued.state, queued.stalls, queued.attempts) == (JobState.QUEUED, 1, 1)
    assert queued.error is not None
    assert "w1" in queued.error
    [again] = store.claim([JobKind.FETCH], "w2", 60)
    assert (again.id, again.attempts, again.stalls) == (job.id, 2, 1)
    assert store.heartbeat([job.id], "w1", 60) == 0  # w1's claim is gone


def test_stale_worker_cannot_touch_a_job_claimed_again(store: Store, clock: FakeClock) -> None:
    store.ingest(event(1))
    [stale] = store.claim([JobKind.FETCH], "w1", 60)
    clock.advance(61)
    store.sweep()
    [current] = store.claim([JobKind.FETCH], "w2", 60)
    store.bury(stale, "late failure")
    store.retry(stale, "late", clock())
    store.complete_fetch(stale, recording_for(stale, clock))
    [job] = store.jobs()
    assert (job.state, job.worker, job.error) == (JobState.RUNNING, "w2", current.error)
    assert store.recording(job.call_id) is None
    store.complete_fetch(current, recording_for(current, clock))
    assert store.call(job.call_id).state is CallState.FETCHED


def test_three_stalls_bury_the_job_and_fail_the_call(open_store: Opener, clock: FakeClock) -> None:
    store = open_store(clock=clock, limits=Limits(max_stalls=3))
    call_id = store.ingest(event(1)).call_id
    for stall in (1, 2, 3):
        [_] = store.claim([JobKind.FETCH], f"w{stall}", 60)
        clock.advance(61)
        assert store.sweep() == 1
    [dead] = store.jobs()
    assert (dead.state, dead.stalls, dead.attempts) == (JobState.DEAD, 3, 3)
    assert dead.error is not None
    assert "stall 3 of 3" in dead.error
    call = store.call(call_id)
    assert call.state is CallState.FAILED
    assert call.error is not None
    assert "stall" in call.error
    assert store.claim([JobKind.FETCH], "w", 60) == []
    store.close()


def test_happy_path_fetch_transcribe_deliver(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1)).call_id
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    recording = recording_for(fetch, clock)
    store.complete_fetch(fetch, recording)
    assert store.call(call_id).state is CallState.FETCHED
    assert store.recording(call_id) == recording

    [transcribe] = store.claim([JobKind.FETCH, JobKind.TRANSCRIBE], "w", 60)
    assert transcribe.kind is JobKind.TRANSCRIBE
    store.complete_transcribe(transcribe, TRANSCRIPT, ["zendesk", "slack"])
    assert store.call(call_id).state is CallState.TRANSCRIBED
    assert store.transcript(call_id) == TRANSCRIPT
    pending = store.deliveries(call_id, DeliveryState.PENDING)
    assert [d.sink for d in pending] == ["slack", "zendesk"]
    assert pending[0].idempotency_key == idempotency_key("asterisk", "call-1", "slack")

    delivers = store.claim([JobKind.DELIVER], "w", 60, limit=10)
    assert sorted(j.sink or "" for j in delivers) == ["slack", "zendesk"]
    store.complete_delivery(delivers[0], "remote-1")
    assert store.call(call_id).state is CallState.TRANSCRIBED  # one still pending
    store.complete_delivery(delivers[1], None)
    assert store.call(call_id).state is CallState.DONE
    delivered = {d.sink: d for d in store.deliveries(call_id)}
    assert delivered[delivers[0].sink or ""].remote_id == "remote-1"
    assert all(
        d.state is DeliveryState.DELIVERED and d.delivered_at == T0 for d in delivered.values()
    )
    assert all(j.state is JobState.DONE for j in store.jobs())


def test_one_dead_and_one_delivered_delivery_make_the_call_done(store: Store) -> None:
    call_id = store.ingest(event(1, recorded=False)).call_id
    store.queue_deliveries(call_id, ["zendesk", "slack"])
    first, second = store.claim([JobKind.DELIVER], "w", 60, limit=2)
    store.bury(first, "401: the API token was revoked")
    assert store.call(call_id).state is CallState.NO_RECORDING
    store.complete_delivery(second, "42")
    assert store.call(call_id).state is CallState.DONE
    dead = store.deliveries(state=DeliveryState.DEAD)
    assert [(d.sink, d.error, d.attempts) for d in dead] == [
        (first.sink, "401: the API token was revoked", 1)
    ]


def test_delivery_progress_is_merged_and_outlives_a_retry_and_a_reopen(
    store: Store, open_store: Opener
) -> None:
    call_id = store.ingest(event(1, recorded=False)).call_id
    store.queue_deliveries(call_id, ["usedesk", "okdesk"])
    [job, _] = store.claim([JobKind.DELIVER], "w", 60, limit=2)
    assert store.deliveries(call_id, sink=job.sink)[0].progress == {}
    store.save_delivery_progress(call_id, job.sink or "", {"ticket_id": 17})
    store.save_delivery_progress(call_id, job.sink or "", {"comment_ids": ["a", "b"]})
    store.retry(job, "500", T0)
    store.close()

    reopened = open_store()
    by_sink = {d.sink: d for d in reopened.deliveries(call_id)}
    assert by_sink[job.sink or ""].progress == {"ticket_id": 17, "comment_ids": ["a", "b"]}
    assert [d.progress for s, d in by_sink.items() if s != job.sink] == [{}]
    with pytest.raises(KeyError):
        reopened.save_delivery_progress(call_id, "nowhere", {"x": 1})
    reopened.close()


def test_call_parts_gather_until_the_call_is_ingested(store: Store, clock: FakeClock) -> None:
    end = CallPart("uis", "call-1", "call_end", {"talk_time_duration": 42})
    waiting = store.add_call_part(end)
    assert waiting is not None
    assert (waiting.source, waiting.external_id, waiting.first_received_at) == ("uis", "call-1", T0)
    assert waiting.parts == {"call_end": {"talk_time_duration": 42}}

    clock.advance(30)
    store.add_call_part(CallPart("uis", "call-2", "call_end", {}))
    again = store.add_call_part(CallPart("uis", "call-1", "call_end", {"talk_time_duration": 43}))
    record = store.add_call_part(CallPart("uis", "call-1", "recording", {"file_link": "https://x"}))
    assert again is not None
    assert again.parts == {"call_end": {"talk_time_duration": 43}}  # the same part replaces
    assert record is not None
    assert record.first_received_at == T0
    assert set(record.parts) == {"call_end", "recording"}
    assert [w.external_id for w in store.call_parts()] == ["call-1", "call-2"]
    assert [w.external_id for w in store.call_parts(T0 + timedelta(seconds=10))] == ["call-1"]

    store.ingest(event(1, source="uis"))  # external_id "call-1"
    assert [w.external_id for w in store.call_parts()] == ["call-2"]
    assert store.add_call_part(CallPart("uis", "call-1", "recording", {})) is None
    assert [w.external_id for w in store.call_parts()] == ["call-2"]


def test_retried_delivery_records_its_error(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1, recorded=False)).call_id
    store.queue_deliveries(call_id, ["zendesk"])
    [job] = store.claim([JobKind.DELIVER], "w", 60)
    store.retry(job, "503 from zendesk", clock() + timedelta(seconds=5))
    [delivery] = store.deliveries(call_id)
    assert (delivery.state, delivery.error, delivery.attempts) == (
        DeliveryState.PENDING,
        "503 from zendesk",
        1,
    )


def test_no_recording_path(store: Store) -> None:
    ingested = store.ingest(event(1, recorded=False))
    assert ingested.created
    call_id = ingested.call_id
    assert store.call(call_id).state is CallState.NO_RECORDING
    assert store.jobs() == []
    store.queue_deliveries(call_id, ["zendesk"])
    store.queue_deliveries(call_id, ["zendesk"])  # idempotent
    [job] = store.jobs()
    assert (job.kind, job.sink) == (JobKind.DELIVER, "zendesk")
    store.complete_delivery(store.claim([JobKind.DELIVER], "w", 60)[0], "t-1")
    assert store.call(call_id).state is CallState.DONE
    store.queue_deliveries(call_id, ["zendesk"])  # after DONE: nothing happens
    assert len(store.jobs()) == 1

    unrouted = store.ingest(event(2, recorded=False)).call_id
    store.queue_deliveries(unrouted, [])
    assert store.call(unrouted).state is CallState.DONE

    recorded = store.ingest(event(3)).call_id
    with pytest.raises(ValueError, match="received"):
        store.queue_deliveries(recorded, ["zendesk"])


def test_missed_call_is_routed_in_the_ingest_transaction(store: Store) -> None:
    routed = store.ingest(event(1, recorded=False), ["zendesk", "slack", "zendesk"])
    assert store.call(routed.call_id).state is CallState.NO_RECORDING
    assert [d.sink for d in store.deliveries(routed.call_id)] == ["slack", "zendesk"]
    assert len(store.jobs(kind=JobKind.DELIVER)) == 2
    [zendesk] = store.deliveries(sink="zendesk")
    assert zendesk.idempotency_key == idempotency_key("asterisk", "call-1", "zendesk")
    # A duplicate event does not route again, whatever sinks it comes with.
    again = store.ingest(event(1, recorded=False), ["telegram"])
    assert (again.call_id, again.created) == (routed.call_id, False)
    assert store.deliveries(sink="telegram") == []

    nowhere = store.ingest(event(2, recorded=False), []).call_id
    assert store.call(nowhere).state is CallState.DONE
    recorded = store.ingest(event(3), ["zendesk"]).call_id  # routed after transcription
    assert store.call(recorded).state is CallState.RECEIVED
    assert store.deliveries(recorded) == []


def test_transcribe_without_sinks_finishes_the_call(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1)).call_id
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.complete_transcribe(transcribe, TRANSCRIPT, [])
    assert store.call(call_id).state is CallState.DONE


def test_buried_transcribe_fails_the_call(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1)).call_id
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.bury(transcribe, "the file is empty")
    call = store.call(call_id)
    assert (call.state, call.error) == (CallState.FAILED, "transcribe: the file is empty")
    assert store.calls(CallState.FAILED) == [call]


def test_job_counts_and_oldest_queued_at(store: Store, clock: FakeClock) -> None:
    assert store.oldest_queued_at() is None
    assert set(store.job_counts().values()) == {0}
    store.ingest(event(1))
    clock.advance(10)
    store.ingest(event(2))
    store.claim([JobKind.FETCH], "w", 60)
    counts = store.job_counts()
    assert counts[JobKind.FETCH, JobState.QUEUED] == 1
    assert counts[JobKind.FETCH, JobState.RUNNING] == 1
    assert counts[JobKind.DELIVER, JobState.DEAD] == 0
    assert len(counts) == len(JobKind) * len(JobState)
    assert store.oldest_queued_at() == T0 + timedelta(seconds=10)


def test_transcript_round_trip(store: Store, clock: FakeClock) -> None:
    call_id = store.ingest(event(1)).call_id
    assert store.transcript(call_id) is None
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [job] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.complete_transcribe(job, TRANSCRIPT, ["zendesk"])
    assert store.transcript(call_id) == TRANSCRIPT


# --- admin, retention, backfill ---------------------------------------------------------


def transcribed(store: Store, clock: FakeClock, n: int, sinks: list[str]) -> int:
    """A recorded call taken through fetch and transcription; its id."""
    call_id = store.ingest(event(n)).call_id
    assert call_id is not None
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [job] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.complete_transcribe(job, TRANSCRIPT, sinks)
    return call_id


def test_revive_delivery_requeues_a_dead_one_with_its_key(store: Store) -> None:
    call_id = store.ingest(event(1, recorded=False), ["qolio", "okdesk"]).call_id
    assert call_id is not None
    claimed = {job.sink: job for job in store.claim([JobKind.DELIVER], "w", 60, limit=2)}
    okdesk, qolio = claimed["okdesk"], claimed["qolio"]
    store.bury(okdesk, "400: bad field")
    store.complete_delivery(qolio, "q-1")
    assert store.call(call_id).state is CallState.DONE
    assert not store.revive_delivery(call_id, "qolio")  # delivered, not dead
    assert not store.revive_delivery(call_id, "nowhere")
    assert store.revive_delivery(call_id, "okdesk")
    assert not store.revive_delivery(call_id, "okdesk")  # pending now
    [delivery] = store.deliveries(call_id, sink="okdesk")
    assert (delivery.state, delivery.attempts, delivery.error) == (DeliveryState.PENDING, 0, None)
    assert delivery.idempotency_key == idempotency_key("asterisk", "call-1", "okdesk")
    assert store.call(call_id).state is CallState.NO_RECORDING
    [again] = store.claim([JobKind.DELIVER], "w", 60)
    assert (again.id, again.attempts, again.stalls) == (okdesk.id, 1, 0)
    store.complete_delivery(again, "o-1")
    assert store.call(call_id).state is CallState.DONE


def test_revive_delivery_refuses_when_the_transcript_was_purged(
    store: Store, clock: FakeClock
) -> None:
    call_id = transcribed(store, clock, 1, ["qolio"])
    [job] = store.claim([JobKind.DELIVER], "w", 60)
    store.bury(job, "401")
    assert store.call(call_id).state is CallState.DONE
    clock.advance(10)
    assert store.purge_transcripts(clock() - timedelta(seconds=20), "retention") == 0
    assert store.purge_transcripts(clock(), "retention") == 1
    assert store.transcript(call_id) is None
    with pytest.raises(ValueError, match="retention"):
        store.revive_delivery(call_id, "qolio")


def test_revive_call_requeues_the_stage_that_died(store: Store, clock: FakeClock) -> None:
    fetched = store.ingest(event(1)).call_id
    assert fetched is not None
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.bury(fetch, "404 for good")
    assert store.call(fetched).state is CallState.FAILED
    assert store.revive_call(fetched) is JobKind.FETCH
    assert store.call(fetched).state is CallState.RECEIVED
    assert store.call(fetched).error is None
    assert store.revive_call(fetched) is None  # not failed any more
    [again] = store.claim([JobKind.FETCH], "w", 60)
    assert (again.id, again.attempts) == (fetch.id, 1)
    with pytest.raises(KeyError):
        store.revive_call(999_999)

    store.complete_fetch(again, recording_for(again, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.bury(transcribe, "decoder crashed")
    assert store.revive_call(fetched) is JobKind.TRANSCRIBE
    assert store.call(fetched).state is CallState.FETCHED
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.bury(transcribe, "decoder crashed")
    assert store.revive_call(fetched, refetch=True) is JobKind.FETCH
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.bury(transcribe, "decoder crashed")
    assert store.mark_recordings_purged([fetched], "retention") == 1
    assert store.revive_call(fetched) is JobKind.FETCH  # no file left to transcribe


def test_recordings_to_purge_and_marking_them(store: Store, clock: FakeClock) -> None:
    done = transcribed(store, clock, 1, [])
    failed = store.ingest(event(2)).call_id
    running = store.ingest(event(3)).call_id
    assert failed is not None
    assert running is not None
    fetch_failed, fetch_running = store.claim([JobKind.FETCH], "w", 60, limit=2)
    store.complete_fetch(fetch_failed, recording_for(fetch_failed, clock))
    store.complete_fetch(fetch_running, recording_for(fetch_running, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.bury(transcribe, "not audio")
    assert {store.call(i).state for i in (done, failed)} == {CallState.DONE, CallState.FAILED}
    assert [r.call_id for r in store.recordings_to_purge(10)] == sorted([done, failed])
    assert [r.call_id for r in store.recordings_to_purge(1)] == [min(done, failed)]
    before = clock() - timedelta(seconds=1)
    assert [r.call_id for r in store.recordings_to_purge(10, finished_before=before)] == [failed]
    clock.advance(5)
    assert store.mark_recordings_purged([done, failed, 999_999], "retention") == 2
    assert store.mark_recordings_purged([done], "retention") == 0
    assert store.mark_recordings_purged([], "retention") == 0
    assert store.recordings_to_purge(10) == []
    facts = store.call_facts([done, failed, running, 999_999])
    assert set(facts) == {done, failed, running}
    assert facts[done].recording_purged_at == clock()
    assert facts[done].duration == TRANSCRIPT.duration
    assert facts[done].unrouted(store.call(done))
    assert facts[running].recording_purged_at is None
    assert facts[running].duration is None


def test_backfilled_days_and_known_calls(store: Store, clock: FakeClock) -> None:
    assert store.backfilled_days("uis") == set()
    store.finish_backfill_day("uis", date(2024, 5, 1), 10, 4)
    store.finish_backfill_day("uis", date(2024, 5, 2), 0, 0)
    store.finish_backfill_day("uis", date(2024, 5, 1), 11, 1)  # read again
    store.finish_backfill_day("mango", date(2024, 4, 30), 1, 1)
    assert store.backfilled_days("uis") == {date(2024, 5, 1), date(2024, 5, 2)}
    assert store.backfilled_days("calltouch") == set()
    store.ingest(event(1, source="uis"))
    store.ingest(event(2, source="mango"))
    assert store.known_calls("uis", ["call-1", "call-2", "call-3"]) == {"call-1"}
    assert store.known_calls("uis", []) == set()


def test_listings_filter_and_order(store: Store, clock: FakeClock) -> None:
    first = store.ingest(event(1, recorded=False), ["qolio"]).call_id
    clock.advance(1)
    second = store.ingest(event(2, source="uis")).call_id
    clock.advance(1)
    third = store.ingest(event(3, recorded=False), ["qolio", "okdesk"]).call_id
    assert [c.id for c in store.calls()] == [third, second, first]
    assert [c.id for c in store.calls(limit=2)] == [third, second]
    assert [c.id for c in store.calls(source="uis")] == [second]
    assert [c.id for c in store.calls(CallState.NO_RECORDING)] == [third, first]
    assert [(d.call_id, d.sink) for d in store.deliveries(sink="qolio")] == [
        (first, "qolio"),
        (third, "qolio"),
    ]
    assert [d.sink for d in store.deliveries(third)] == ["okdesk", "qolio"]
    assert store.deliveries(state=DeliveryState.DEAD) == []
    assert len(store.jobs(kind=JobKind.DELIVER, state=JobState.QUEUED)) == 3
    assert [j.kind for j in store.jobs(kind=JobKind.FETCH)] == [JobKind.FETCH]
