"""The store is the queue: calls, recordings, transcripts, deliveries and the jobs that
move a call from one to the next, all in one database so each step commits atomically.

A call goes through three kinds of job::

    FETCH ──▶ TRANSCRIBE ──▶ DELIVER (one per routed sink)

Each job is claimed with a lease that its worker renews (heartbeat); a job whose worker
died is taken again once the lease expires (a *stall*).  A call has at most one DELIVER
job per sink at a time, for one version of its transcript (``Job.version``): a later
version, queued by ``callscribe retranscribe --redeliver``, waits until the sink's earlier
delivery settles, and settling one queues the job of the next PENDING one.

Failures are retried on the job's retry policy; too many failures or stalls leave the job
``dead`` with the reason, visible to the admin.  Completing a job and queueing the next
one is one transaction, so
a crash at any point leaves either the old job to redo or the new one to do — never
neither (at-least-once; sinks make redelivery harmless with idempotency keys).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from callscribe.domain import (
    Call,
    CallEvent,
    CallPart,
    CallState,
    Delivery,
    DeliveryState,
    Recording,
    Transcript,
)


class JobKind(enum.StrEnum):
    FETCH = "fetch"
    TRANSCRIBE = "transcribe"
    DELIVER = "deliver"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: JobKind
    call_id: int
    sink: str | None  # DELIVER jobs only
    state: JobState
    attempts: int  # claims so far, including the current one
    stalls: int  # times a worker died holding it
    run_at: datetime
    lease_until: datetime | None
    worker: str | None
    error: str | None
    version: int = 1  # DELIVER jobs: the transcript version of the delivery it works on


@dataclass(frozen=True, slots=True)
class Ingested:
    call_id: int | None  # None: a call part that came after its call was stored
    created: bool  # False when the same (source, external_id) was already stored


@dataclass(frozen=True, slots=True)
class CallParts:
    """The parts of one call received so far, by part name, and when the first came."""

    source: str
    external_id: str
    first_received_at: datetime
    parts: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Limits:
    """When the store gives up on a job."""

    max_stalls: int = 3


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which stored calls a listing or a batch command is about; every field given
    narrows the selection, an empty filter selects every call."""

    since: datetime | None = None  # the call's time at or after this
    until: datetime | None = None  # the call's time before this
    source: str | None = None
    operator: str | None = None  # the event's operator_id, exactly
    number: str | None = None  # client or line number, compared by phones.phone_key
    state: CallState | None = None
    text: str | None = None  # said in the current transcript (case-insensitive)
    call_ids: tuple[int, ...] = ()  # only these calls


@dataclass(frozen=True, slots=True)
class TranscriptVersion:
    """One of the transcripts a call has had: versions count from 1 in the order they were
    made; the current one has ``replaced_at`` None."""

    version: int
    transcript: Transcript
    settings: Mapping[str, Any]  # the [transcription] settings that shaped it; {}: not recorded
    made_at: datetime | None  # None: made before callscribe kept versions
    replaced_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordingFile:
    """A recording file callscribe holds (in its recordings folder), before its call is
    stored: what :meth:`Store.import_call` records."""

    path: str
    size: int
    sha256: str


class ItemState(enum.StrEnum):
    """Where one call of a ``callscribe retranscribe`` run is."""

    QUEUED = "queued"
    RUNNING = "running"  # claimed by a worker, under a lease
    DONE = "done"  # transcribed again: a new version stored
    SKIPPED = "skipped"  # could not be redone (the reason says why); tried again next run
    FAILED = "failed"  # tried and failed (the reason says why); tried again next run


@dataclass(frozen=True, slots=True)
class RetranscribeRun:
    """One ``callscribe retranscribe`` request and how far it got.  The same request (the
    same ``key``) is the same run: running the command again resumes it."""

    id: int
    key: str
    request: Mapping[str, Any]
    model: str
    created: bool  # False: an earlier command asked the same, this one goes on with it
    counts: Mapping[ItemState, int]  # calls in the run by state, every state present
    audio_seconds: float = 0.0  # transcribed by the run so far
    work_seconds: float = 0.0  # wall time that took


@dataclass(frozen=True, slots=True)
class RetranscribeItem:
    call_id: int
    state: ItemState
    worker: str | None
    version: int | None  # the transcript version it made (DONE)
    reason: str | None  # why SKIPPED or FAILED


@dataclass(frozen=True, slots=True)
class NumberTraces:
    """Where a phone number is in the store (``callscribe purge --phone``)."""

    call_ids: tuple[int, ...]  # calls whose event holds it in any field, raw vendor fields too
    call_parts: int  # notifications waiting to be joined into a call that hold it
    mentioned_in: tuple[int, ...]  # other calls whose transcript text says it


#: The categories :meth:`Store.erasure_counts` and :meth:`Store.erase_calls` count, and
#: write to the audit table: rows of each kind deleted with the calls.
ERASED_KINDS = ("call", "recording", "transcript", "transcript_version", "delivery", "job")


@dataclass(frozen=True, slots=True)
class Erased:
    """What :meth:`Store.erase_calls` did."""

    calls: tuple[int, ...]  # erased
    busy: tuple[int, ...]  # left alone: a worker is running one of their jobs right now
    counts: Mapping[str, int]  # rows deleted, by ERASED_KINDS
    delivery_keys: tuple[str, ...]  # idempotency keys of the deleted deliveries
    wal_emptied: bool = True  # False: a reader kept SQLite's WAL from being emptied (see logs)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the store holds for a call besides its event, for admin listings."""

    duration: float | None  # seconds of audio transcribed; None without a transcript
    recording_purged_at: datetime | None  # when retention deleted the recording's file
    deliveries: int = 0  # none on a finished call: no route matched it

    def unrouted(self, call: Call) -> bool:
        """Finished without a single delivery: no route took the call."""
        return call.state is CallState.DONE and self.deliveries == 0


class Store(Protocol):
    """Every method is one transaction; a method that returns has committed.

    A job's transitions (release, retry, bury, complete_*) apply only while the claim
    that returned it still holds: if its lease expired and another worker claimed the
    job, or the job already finished, they change nothing (the store logs a warning) and
    the current holder decides the outcome.
    """

    def ingest(self, event: CallEvent, sinks: Sequence[str] | None = None) -> Ingested:
        """Store a call event and queue its FETCH job, once per (source, external_id).

        A call with no recording (missed) gets no FETCH job: its state is
        NO_RECORDING and it is handed to routing like a transcribed call.  Its ``sinks``
        passed here are queued in the same transaction (as by :meth:`queue_deliveries`;
        empty: nothing to deliver, DONE at once), so a crash cannot leave it unrouted.
        ``sinks`` is ignored for a call with a recording, routed once transcribed, and
        for a duplicate event.  Without ``sinks`` the pipeline must call
        :meth:`queue_deliveries` itself, and route again at start what a crash left
        NO_RECORDING without deliveries.
        """

    def add_call_part(self, part: CallPart) -> CallParts | None:
        """Keep one part of a call (the same part again replaces it) and return every
        part of that call so far; None, storing nothing, when the call was already
        ingested (a part that came too late to be joined).  :meth:`ingest` deletes the
        parts of the call it stores, in its transaction."""

    def call_parts(self, received_before: datetime | None = None) -> list[CallParts]:
        """Calls with parts waiting to be joined, oldest first; with ``received_before``,
        only those whose first part came before it."""

    def claim(
        self, kinds: Sequence[JobKind], worker: str, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        """Take up to ``limit`` queued jobs of these kinds whose time has come, oldest
        first, marking them RUNNING with a lease; ``attempts`` is incremented."""

    def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float) -> int:
        """Extend the leases this worker still holds; returns how many it still holds."""

    def release(self, job: Job) -> None:
        """Give a running job back untouched (graceful stop): QUEUED, attempt not counted."""

    def retry(self, job: Job, error: str, run_at: datetime) -> None:
        """The attempt failed and may succeed later: QUEUED again at ``run_at``."""

    def bury(self, job: Job, error: str) -> None:
        """The job can never succeed: DEAD with the reason.  A dead FETCH or TRANSCRIBE
        leaves the call FAILED; a dead DELIVER leaves its delivery DEAD (and the call
        DONE once no delivery is pending)."""

    def sweep(self, now: datetime | None = None) -> int:
        """Requeue RUNNING jobs whose lease expired (stalls + 1), or bury them once they
        stalled ``Limits.max_stalls`` times; returns how many jobs were touched."""

    def complete_fetch(self, job: Job, recording: Recording) -> None:
        """FETCH done: recording stored, call FETCHED, TRANSCRIBE queued."""

    def complete_transcribe(
        self,
        job: Job,
        transcript: Transcript,
        sinks: Sequence[str],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """TRANSCRIBE done: transcript stored, call TRANSCRIBED, one Delivery and DELIVER
        job per sink (the call is DONE at once when ``sinks`` is empty).

        ``settings`` (JSON-compatible: ``TranscriptionSettings.recorded()``) is stored with
        the transcript.  A call that already has a transcript keeps it as a version and
        the new one is the next version (as in :meth:`save_retranscription`); the
        deliveries queued here send the new one, and a sink that already has a delivery
        of any version of this call gets none."""

    def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        """Deliveries for a call without a recording (NO_RECORDING); idempotent."""

    def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        """DELIVER done: the job's delivery (its call, sink and version) DELIVERED; a
        DELIVER job is queued for the sink's lowest PENDING version left, if any; the call
        is DONE when no delivery is pending.  ``retry`` and ``bury`` likewise apply to the
        job's delivery (a buried one DEAD, and the next version's job queued)."""

    def save_delivery_progress(
        self, call_id: int, sink: str, progress: Mapping[str, Any], version: int = 1
    ) -> None:
        """Merge ``progress`` (JSON-compatible, key by key) into what the delivery of this
        transcript ``version`` has saved so far (``Delivery.progress``), whatever state
        its job is in: a remote id is worth keeping even from an attempt whose lease ran
        out.  KeyError when there is no such delivery."""

    def revive_delivery(self, call_id: int, sink: str) -> bool:
        """Requeue the DEAD deliveries of a call to a sink (an admin's retry): PENDING
        again with attempts reset, a DELIVER job QUEUED now for the lowest of them (unless
        the sink has one queued or running: the chain reaches them), the call back from
        DONE to TRANSCRIBED (NO_RECORDING for a call without recording) until it settles
        again.  The idempotency keys stay, so a sink that did get one sees a duplicate, not
        a new ticket.  False when there is no such delivery or none is DEAD; ValueError
        when the call's transcript was already deleted by retention."""

    def revive_call(self, call_id: int, *, refetch: bool = False) -> JobKind | None:
        """Requeue the stage a FAILED call died in (attempts reset) and return it: FETCH
        (call RECEIVED) or TRANSCRIBE (call FETCHED).  A transcription is redone from a
        new FETCH when the recording was purged or ``refetch`` asks for it.  None when the
        call is not FAILED; KeyError when there is no such call."""

    def recordings_to_purge(
        self, limit: int, finished_before: datetime | None = None
    ) -> list[Recording]:
        """Recordings of finished calls (DONE or FAILED) not purged yet, oldest call first.
        With ``finished_before``, a DONE call's only once it finished before then (its
        recording links may still be played until); a FAILED call was never delivered,
        so no link points at its recording."""

    def mark_recordings_purged(self, call_ids: Sequence[int], reason: str) -> int:
        """Record that these calls' recording files are gone, with one audit row; returns
        how many were newly marked."""

    def purge_transcripts(self, older_than: datetime, reason: str) -> int:
        """Delete the transcripts of calls that finished (DONE) before ``older_than``,
        their earlier versions with them, with one audit row; returns how many calls'
        transcripts were deleted.  The WAL is checkpointed afterwards (see
        :meth:`erase_calls`)."""

    def backfilled_days(self, source: str) -> set[date]:
        """The days ``callscribe backfill`` finished reading for ``source``."""

    def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        """Record that every call of ``day`` was read from the vendor and stored (a day
        read again is recorded again, with its new counts)."""

    def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these calls of ``source`` are stored (a backfill's dry run)."""

    # --- batch work on stored calls: versions, retranscribe runs, imports, erasure --------

    def transcript_versions(self, call_id: int) -> list[TranscriptVersion]:
        """Every transcript the call has, oldest first, the current one last; empty when it
        has none (not transcribed yet, or deleted by retention)."""

    def find_calls(self, where: CallFilter, limit: int | None = None) -> list[Call]:
        """Calls matching ``where``, the most recent first (by the call's time), at most
        ``limit``.  A call's time is when it started, else ended (as its source said), else
        when it was received; ``since``/``until`` compare instants, whatever offsets the
        source wrote.  ``number`` matches the client or line number in any written form
        (``+7 999 …``, ``8 (999) …``, digits only); ``text`` a case-insensitive piece of
        the current transcript's segments."""

    def start_retranscribe(
        self,
        key: str,
        request: Mapping[str, Any],
        model: str,
        call_ids: Sequence[int],
        *,
        again: bool = False,
    ) -> RetranscribeRun:
        """The run for ``key`` (created with ``request`` and ``model`` if new) with
        ``call_ids`` added to it as QUEUED where not in it yet.  Calls already in it keep
        their state, so asking again resumes; ``again`` puts every call of the run back to
        QUEUED (except those RUNNING under another worker's live lease)."""

    def claim_retranscribe(
        self, run_id: int, worker: str, lease_seconds: float, limit: int
    ) -> list[Call]:
        """Take up to ``limit`` calls of the run, in call id order, that are QUEUED or
        RUNNING under an expired lease: RUNNING for ``worker`` with a lease.  A call that
        cannot be transcribed again now is marked SKIPPED with the reason instead, in the
        same transaction: it is not DONE or TRANSCRIBED (not transcribed yet, failed, no
        recording), the service has a FETCH or TRANSCRIBE job for it queued or running, or
        another run holds it under a live lease.  So neither the service nor another run
        works on a claimed call (``save_retranscription`` checks again)."""

    def renew_retranscribe(self, run_id: int, worker: str, lease_seconds: float) -> int:
        """Extend the leases of the run's calls RUNNING for ``worker``; returns how many."""

    def release_retranscribe(self, run_id: int, worker: str) -> int:
        """Put the run's calls RUNNING for ``worker`` back to QUEUED (the command stopped,
        or its process is known to be dead); returns how many."""

    def save_retranscription(
        self,
        run_id: int,
        call_id: int,
        worker: str,
        transcript: Transcript,
        *,
        settings: Mapping[str, Any],
        redeliver_to: Collection[str] = (),
    ) -> int | None:
        """Store a new transcript of a claimed call and mark it DONE; returns its version.

        One transaction: the current transcript becomes a version (kept with its
        settings), the new one is current as version n + 1 (n: the highest version the
        call ever had, a deleted transcript's and its deliveries' included, so versions
        and delivery keys are never reused), with ``settings``.  For every sink in
        ``redeliver_to`` that has a delivery of this call, a PENDING delivery of the new
        version and a DELIVER job (the call TRANSCRIBED until they settle).  None, storing
        nothing, when ``worker`` no longer holds the call (its lease expired and another
        took it); when the call can no longer be redone (state changed, or the service
        queued a FETCH/TRANSCRIBE job meanwhile) it is SKIPPED with the reason and None
        returned."""

    def settle_retranscribe(
        self, run_id: int, call_id: int, worker: str, state: ItemState, reason: str
    ) -> bool:
        """Mark a claimed call SKIPPED or FAILED with the reason; False when ``worker``
        no longer holds it."""

    def record_retranscribe_work(
        self, run_id: int, audio_seconds: float, work_seconds: float
    ) -> None:
        """Add what one command did to the run's totals (its speed, for estimates)."""

    def retranscribe_items(self, run_id: int) -> list[RetranscribeItem]:
        """The run's calls, in call id order."""

    def retranscribe_run(self, key: str) -> RetranscribeRun | None:
        """The run asked with ``key`` (``created`` False), None when there is none."""

    def retranscribe_obstacles(self, run_id: int | None, call_ids: Sequence[int]) -> dict[int, str]:
        """Why each of these calls cannot be transcribed again now, by call id (the calls
        that can are left out): the reasons :meth:`claim_retranscribe` skips a call for,
        without claiming anything (``run_id``: the run asking, whose own holds do not
        count; None for a run not started yet)."""

    def retranscribe_speed(self, model: str) -> float | None:
        """Seconds of audio per second of work of the runs with this model (all runs
        together), None when none did any: what ``--dry-run`` estimates with."""

    def import_call(
        self,
        event: CallEvent,
        recording: RecordingFile,
        transcript: Transcript | None,
        *,
        error: str | None = None,
        settings: Mapping[str, Any] | None = None,
        sinks: Sequence[str] = (),
    ) -> Ingested:
        """Store a call brought in by ``callscribe import`` with its recording (a file in
        the recordings folder) and its transcript, made already, in one transaction:
        TRANSCRIBED with a PENDING delivery and DELIVER job per sink (DONE at once
        without sinks), as :meth:`complete_transcribe` leaves a call.  Without a
        transcript the call is FAILED with ``error`` and a dead TRANSCRIBE job, so
        :meth:`revive_call` transcribes it again from the stored recording.  Idempotent
        like :meth:`ingest` on ``(source, external_id)``: a known call is left as it is
        (``created`` False)."""

    def number_traces(self, number: str) -> NumberTraces:
        """Where ``number`` is (compared by ``phones.phone_key``, any written form): the
        calls whose event holds it in any field, ``raw`` included; the call parts holding
        it; the other calls whose transcript (any version) says it in digits.  ValueError
        when ``number`` is not a phone number."""

    def finished_calls(self, finished_before: datetime, limit: int, after_id: int = 0) -> list[int]:
        """Ids of calls DONE or FAILED before ``finished_before`` (a finished call's last
        change), above ``after_id``, in id order, at most ``limit``."""

    def erasure_counts(self, call_ids: Sequence[int]) -> Mapping[str, int]:
        """What :meth:`erase_calls` would delete for these calls, by ERASED_KINDS."""

    def erase_calls(self, call_ids: Sequence[int], reason: str) -> Erased:
        """Delete these calls and everything stored about them (events with the vendor's
        raw fields, recording rows, transcripts and versions, deliveries with their
        progress, jobs with their errors, retranscribe items), except calls a worker is
        running a job of (``busy``: try again later).  One audit row per category with
        the call ids and ``reason`` (no personal data).  SQLite: deleted content is
        overwritten in the database (``secure_delete``) and the WAL is checkpointed and
        truncated after the commit, so the bytes are gone from both files.  PostgreSQL:
        the rows are gone from every table at the commit; the server's dead rows, WAL
        and backups are the operator's (docs/batch.md).  Recording files are the
        caller's to delete, before calling this (a crash in between leaves rows to erase
        again, never files nobody knows of)."""

    def erase_call_parts(self, number: str, reason: str) -> int:
        """Delete the call parts holding ``number`` (as :meth:`number_traces` finds them),
        with an audit row; returns how many."""

    # --- reads ---------------------------------------------------------------------------

    def call(self, call_id: int) -> Call: ...
    def recording(self, call_id: int) -> Recording | None: ...
    def transcript(self, call_id: int, version: int | None = None) -> Transcript | None:
        """The call's current transcript, or the one of ``version`` (None when the call
        has no such version, or it was deleted by retention)."""

    def deliveries(
        self,
        call_id: int | None = None,
        state: DeliveryState | None = None,
        sink: str | None = None,
    ) -> list[Delivery]: ...
    def calls(
        self, state: CallState | None = None, limit: int = 100, source: str | None = None
    ) -> list[Call]: ...
    def call_facts(self, call_ids: Sequence[int]) -> dict[int, CallFacts]: ...
    def jobs(self, state: JobState | None = None, kind: JobKind | None = None) -> list[Job]: ...
    def job_counts(self) -> Mapping[tuple[JobKind, JobState], int]: ...
    def oldest_queued_at(self) -> datetime | None: ...
    def close(self) -> None: ...
