"""The things callscribe talks about, as immutable values.

Vendor payloads never get this far: sources translate them at the edge, sinks render
from these types.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Speaker(enum.StrEnum):
    """Who is talking.  Stereo recordings keep the two sides on separate channels."""

    OPERATOR = "operator"
    CLIENT = "client"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of speech by one speaker, times in seconds from the start of the call."""

    speaker: Speaker
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True, slots=True)
class Timings:
    """Where the wall-clock time of one transcription went, in seconds."""

    decode: float = 0.0
    vad: float = 0.0
    recognition: float = 0.0


@dataclass(frozen=True, slots=True)
class Redaction:
    """A value hidden from a transcript (a card number, a phone number...): what kind it
    was, who said it and when; never the value itself.  ``start``/``end`` cover the
    segments it was said in (``callscribe.redaction``: the span the audio is silenced in)."""

    kind: str
    speaker: Speaker
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """The dialogue of one call: segments of both speakers, merged in time order.

    ``redactions`` is None for a transcript as heard; a redacted copy lists what it hides
    (an empty tuple: redacted, nothing found).
    """

    segments: tuple[Segment, ...]
    duration: float
    language: str
    model: str
    dropped_hallucinations: int = 0
    timings: Timings = field(default_factory=Timings)
    redactions: tuple[Redaction, ...] | None = None

    @property
    def speakers(self) -> frozenset[Speaker]:
        return frozenset(segment.speaker for segment in self.segments)

    def text_of(self, speaker: Speaker) -> str:
        return " ".join(s.text for s in self.segments if s.speaker is speaker)


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RecordingRef:
    """Where a call's recording can be fetched from: a URL or a local path.

    ``channels`` overrides the source's stereo channel map for this recording, for sources
    whose recordings put the client on the left (Asterisk's MixMonitor ``D`` option).
    """

    location: str
    channels: tuple[Speaker, Speaker] | None = None


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A finished call as a source reports it, translated from the vendor's payload.

    ``raw`` keeps the vendor's own fields (JSON-compatible values only) for field mappings
    and for debugging; nothing downstream depends on its shape.
    """

    source: str
    external_id: str
    direction: Direction = Direction.UNKNOWN
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    client_number: str | None = None
    line_number: str | None = None
    operator_id: str | None = None
    operator_name: str | None = None
    recordings: tuple[RecordingRef, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def talk_seconds(self) -> float | None:
        if self.answered_at and self.ended_at:
            return max(0.0, (self.ended_at - self.answered_at).total_seconds())
        return None


@dataclass(frozen=True, slots=True)
class CallPart:
    """One of several notifications a vendor sends about the same call (UIS: call end and
    recorded talk; Mango: summary and record/added), kept until its source can join them
    into one :class:`CallEvent` with the same ``external_id``.  ``data``: JSON values."""

    source: str
    external_id: str
    part: str
    data: Mapping[str, Any]


class CallState(enum.StrEnum):
    RECEIVED = "received"  # event stored, recording not fetched yet
    FETCHED = "fetched"  # recording stored locally
    TRANSCRIBED = "transcribed"  # transcript stored, deliveries queued
    DONE = "done"  # every delivery finished (delivered or dead)
    FAILED = "failed"  # fetching or transcribing gave up; the reason is stored
    NO_RECORDING = "no_recording"  # a missed call or one without audio: delivered as such


@dataclass(frozen=True, slots=True)
class Call:
    """A call as callscribe stores it."""

    id: int
    event: CallEvent
    state: CallState
    received_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording fetched into callscribe's state directory."""

    call_id: int
    path: str
    size: int
    sha256: str
    fetched_at: datetime


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # the sink refused it for good, or the retries ran out


@dataclass(frozen=True, slots=True)
class Delivery:
    """One call's transcript going to one sink."""

    call_id: int
    sink: str
    state: DeliveryState
    idempotency_key: str
    attempts: int = 0
    remote_id: str | None = None
    error: str | None = None
    delivered_at: datetime | None = None
    #: Which of the call's transcripts it sends: 1 is the first; a later one is sent by
    #: ``callscribe retranscribe --redeliver`` as a delivery of its own.
    version: int = 1
    #: What the sink saved on the way (remote ids of a ticket, a comment): see
    #: ``connectors.base.DeliveryContext``.  JSON-compatible values only.
    progress: Mapping[str, Any] = field(default_factory=dict)
