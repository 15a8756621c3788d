"""Turn timed words into the segments of a dialogue.

Whisper's own segments often span several turns of one speaker and the silence between
them, which puts words on the wrong side of the other speaker's reply.  callscribe builds
segments from word timings instead: a segment is the words of one stretch of speech of
one track, cut again wherever the speaker pauses for longer than ``MAX_PAUSE``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from callscribe.domain import Segment, Speaker
from callscribe.transcription.hallucinations import HallucinationFilter
from callscribe.transcription.lookalikes import cyrillic_throughout

MAX_PAUSE = 1.0  # seconds of silence inside a stretch that still starts a new line
# Cross-attention alignment stretches the first word of a stretch back over the silence
# (or the VAD padding) before it, and the last word forward; faster-whisper clamps such
# words to twice the median word length, capped like this.
LONGEST_MEDIAN_WORD = 0.7


@dataclass(frozen=True, slots=True)
class TimedWord:
    """A word placed in the call: which track said it and when."""

    speaker: Speaker
    stretch: int  # identifies the stretch of speech (VAD piece) the word came from
    start: float
    end: float
    text: str
    probability: float
    no_speech_prob: float


def build_segments(
    words: Iterable[TimedWord], hallucinations: HallucinationFilter
) -> tuple[tuple[Segment, ...], int]:
    """Segments of all speakers in time order, and how many invented phrases were cut."""
    segments: list[Segment] = []
    dropped = 0
    ordered = sorted(words, key=lambda w: (w.speaker, w.stretch, w.start))
    for group in _groups(_trim_stretch_edges(ordered)):
        text, removed = hallucinations.clean(cyrillic_throughout("".join(w.text for w in group)))
        dropped += removed
        if not text:
            continue
        logprobs = [math.log(max(w.probability, 1e-6)) for w in group]
        segments.append(
            Segment(
                speaker=group[0].speaker,
                start=round(group[0].start, 2),
                end=round(max(w.end for w in group), 2),
                text=text,
                avg_logprob=round(sum(logprobs) / len(logprobs), 4),
                no_speech_prob=round(group[0].no_speech_prob, 4),
            )
        )
    segments.sort(key=lambda s: (s.start, s.end))
    return tuple(segments), dropped


def _trim_stretch_edges(words: list[TimedWord]) -> list[TimedWord]:
    trimmed: list[TimedWord] = []
    for _, stretch in itertools.groupby(words, key=lambda w: (w.speaker, w.stretch)):
        group = list(stretch)
        durations = [w.end - w.start for w in group if w.end > w.start]
        longest = 2 * min(LONGEST_MEDIAN_WORD, statistics.median(durations or [0.0]))
        first, last = group[0], group[-1]
        if longest and first.end - first.start > longest:
            group[0] = dataclasses.replace(first, start=first.end - longest)
        if longest and last.end - last.start > longest:
            group[-1] = dataclasses.replace(group[-1], end=group[-1].start + longest)
        trimmed.extend(group)
    return trimmed


def _groups(words: list[TimedWord]) -> Iterable[list[TimedWord]]:
    group: list[TimedWord] = []
    for word in words:
        if group and (
            word.speaker != group[-1].speaker
            or word.stretch != group[-1].stretch
            or word.start - group[-1].end > MAX_PAUSE
        ):
            yield group
            group = []
        group.append(word)
    if group:
        yield group
