"""The things callscribe talks about, as immutable values.

Vendor payloads never get this far: sources translate them at the edge, sinks render
from these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
class Transcript:
    """The dialogue of one call: segments of both speakers, merged in time order."""

    segments: tuple[Segment, ...]
    duration: float
    language: str
    model: str
    dropped_hallucinations: int = 0
    timings: Timings = field(default_factory=Timings)

    @property
    def speakers(self) -> frozenset[Speaker]:
        return frozenset(segment.speaker for segment in self.segments)

    def text_of(self, speaker: Speaker) -> str:
        return " ".join(s.text for s in self.segments if s.speaker is speaker)
