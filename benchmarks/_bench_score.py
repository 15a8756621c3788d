"""Accuracy of a benchmark run against the manifest's ground truth.

Both configurations go through the same ``callscribe.transcription.accuracy.score``: the
hypothesis is the segments' text in time order, the reference the spoken turns in time
order, both normalised alike.  The naive baseline has no speakers, so its segments are
scored as ``unknown`` and only its speaker-blind numbers are kept.

Pooled rates weight each call's rate by its reference size (words, or characters for CER),
which is exactly total edits / total reference words: on short calls one misheard word
moves the per-call WER by several points, so the pooled number is the one to compare.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from callscribe.domain import Segment, Speaker
from callscribe.transcription.accuracy import Turn, normalise, score

SIDES = (Speaker.OPERATOR.value, Speaker.CLIENT.value)
# Speech turn times in the manifest are the prompts' edges; Whisper's segment times (the
# naive baseline's, without word timestamps) can be off by about this much.
SPEECH_MARGIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Said:
    """One segment as a worker reports it."""

    speaker: str  # "operator", "client" or "unknown"
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class CallScore:
    words: int  # reference words: the weight of this call's WER in the pooled WER
    chars: int  # reference characters: the weight of its CER
    wer: float
    cer: float
    # side -> (WER, reference words of that side); empty for a configuration without speakers
    by_speaker: dict[str, tuple[float, int]] = field(default_factory=dict)
    attribution: float | None = None  # share of hypothesis words put on the right speaker
    hypothesis_words: int = 0
    words_in_silence: int = 0


@dataclass(frozen=True, slots=True)
class Pooled:
    wer: float
    cer: float
    mean_wer: float  # the plain mean of per-call rates, noisy on short calls
    mean_cer: float
    by_speaker: dict[str, float]
    attribution: float | None
    words_in_silence: float  # a median over repeats need not be a whole number


@functools.cache  # repeats usually give identical transcripts
def score_call(turns: tuple[Turn, ...], said: tuple[Said, ...], speakers: bool) -> CallScore:
    segments = [Segment(Speaker(s.speaker), s.start, s.end, s.text, 0.0, 0.0) for s in said]
    accuracy = score(turns, segments)
    spoken = sorted((t for t in turns if t.speaker != "hold"), key=lambda t: t.start)
    reference = normalise(" ".join(t.text for t in spoken))
    by_speaker: dict[str, tuple[float, int]] = {}
    if speakers:
        for side in SIDES:
            side_words = normalise(" ".join(t.text for t in spoken if t.speaker == side))
            by_speaker[side] = (accuracy.wer_by_speaker[side], max(len(side_words), 1))
    return CallScore(
        # The same denominators accuracy.wer and accuracy.cer divide by.
        words=max(len(reference), 1),
        chars=max(len(" ".join(reference)), 1),
        wer=accuracy.wer,
        cer=accuracy.cer,
        by_speaker=by_speaker,
        attribution=accuracy.attribution if speakers else None,
        hypothesis_words=accuracy.words,
        words_in_silence=words_in_silence(turns, said),
    )


def words_in_silence(turns: Sequence[Turn], said: Sequence[Said]) -> int:
    """Words of segments wholly inside music on hold, or clear of every speech turn by 1 s.

    Speaker-blind, so it means the same for both configurations: nothing should be
    transcribed where nobody speaks.  Only whole segments count: the naive baseline's
    segments are coarse (one can start 10 s early, in the music, and still hold the next
    real turn), so for it this is a lower bound.
    """
    holds = [t for t in turns if t.speaker == "hold"]
    speech = [t for t in turns if t.speaker != "hold"]
    count = 0
    for segment in said:
        on_hold = any(t.start <= segment.start and segment.end <= t.end for t in holds)
        near_speech = any(
            segment.start < t.end + SPEECH_MARGIN_SECONDS
            and segment.end > t.start - SPEECH_MARGIN_SECONDS
            for t in speech
        )
        if on_hold or not near_speech:
            count += len(normalise(segment.text))
    return count


def pool(scores: Sequence[CallScore]) -> Pooled | None:
    """One repeat's accuracy over all calls with ground truth (None if there are none)."""
    if not scores:
        return None
    by_speaker = {
        side: _weighted([s.by_speaker[side] for s in scores])
        for side in SIDES
        if all(side in s.by_speaker for s in scores)
    }
    attribution = None
    if all(s.attribution is not None for s in scores):
        attribution = _weighted([(s.attribution or 0.0, s.hypothesis_words) for s in scores])
    return Pooled(
        wer=_weighted([(s.wer, s.words) for s in scores]),
        cer=_weighted([(s.cer, s.chars) for s in scores]),
        mean_wer=statistics.fmean(s.wer for s in scores),
        mean_cer=statistics.fmean(s.cer for s in scores),
        by_speaker=by_speaker,
        attribution=attribution,
        words_in_silence=sum(s.words_in_silence for s in scores),
    )


def median_pooled(repeats: Sequence[Pooled]) -> Pooled:
    """Each number's median over repeats (they agree unless the transcripts differed)."""
    first = repeats[0]
    attribution = None
    if first.attribution is not None:
        attribution = statistics.median(p.attribution or 0.0 for p in repeats)
    return Pooled(
        wer=statistics.median(p.wer for p in repeats),
        cer=statistics.median(p.cer for p in repeats),
        mean_wer=statistics.median(p.mean_wer for p in repeats),
        mean_cer=statistics.median(p.mean_cer for p in repeats),
        by_speaker={
            side: statistics.median(p.by_speaker[side] for p in repeats)
            for side in first.by_speaker
        },
        attribution=attribution,
        words_in_silence=statistics.median(p.words_in_silence for p in repeats),
    )


def _weighted(pairs: Sequence[tuple[float, int]]) -> float:
    total = sum(weight for _, weight in pairs)
    return sum(rate * weight for rate, weight in pairs) / max(total, 1)
