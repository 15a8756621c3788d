"""The store is the queue: calls, recordings, transcripts, deliveries and the jobs that
move a call from one to the next, all in one database so each step commits atomically.

A call goes through three kinds of job::

    FETCH ──▶ TRANSCRIBE ──▶ DELIVER (one per routed sink)

Each job is claimed with a lease that its worker renews (heartbeat); a job whose worker
died is taken again once the lease expires (a *stall*).  Failures are retried on the
job's retry policy; too many failures or stalls leave the job ``dead`` with the reason,
visible to the admin.  Completing a job and queueing the next one is one transaction, so
a crash at any point leaves either the old job to redo or the new one to do — never
neither (at-least-once; sinks make redelivery harmless with idempotency keys).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
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

    def complete_transcribe(self, job: Job, transcript: Transcript, sinks: Sequence[str]) -> None:
        """TRANSCRIBE done: transcript stored, call TRANSCRIBED, one Delivery and DELIVER
        job per sink (the call is DONE at once when ``sinks`` is empty)."""

    def queue_deliveries(self, call_id: int, sinks: Sequence[str]) -> None:
        """Deliveries for a call without a recording (NO_RECORDING); idempotent."""

    def complete_delivery(self, job: Job, remote_id: str | None) -> None:
        """DELIVER done: delivery DELIVERED; the call is DONE when no delivery is pending."""

    def save_delivery_progress(self, call_id: int, sink: str, progress: Mapping[str, Any]) -> None:
        """Merge ``progress`` (JSON-compatible, key by key) into what the delivery has
        saved so far (``Delivery.progress``), whatever state its job is in: a remote id
        is worth keeping even from an attempt whose lease ran out.  KeyError when there
        is no such delivery."""

    def revive_delivery(self, call_id: int, sink: str) -> bool:
        """Requeue a DEAD delivery (an admin's retry): its DELIVER job QUEUED now with
        attempts and stalls reset, the delivery PENDING, the call back from DONE to
        TRANSCRIBED (NO_RECORDING for a call without recording) until it settles again.
        The idempotency key stays, so a sink that did get it sees a duplicate, not a new
        ticket.  False when there is no such delivery or it is not DEAD; ValueError when
        the call's transcript was already deleted by retention."""

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
        with one audit row; returns how many were deleted."""

    def backfilled_days(self, source: str) -> set[date]:
        """The days ``callscribe backfill`` finished reading for ``source``."""

    def finish_backfill_day(self, source: str, day: date, calls: int, new_calls: int) -> None:
        """Record that every call of ``day`` was read from the vendor and stored (a day
        read again is recorded again, with its new counts)."""

    def known_calls(self, source: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these calls of ``source`` are stored (a backfill's dry run)."""

    def call(self, call_id: int) -> Call: ...
    def recording(self, call_id: int) -> Recording | None: ...
    def transcript(self, call_id: int) -> Transcript | None: ...
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
