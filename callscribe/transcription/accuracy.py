"""How close a transcript is to what was really said.

Used by the test suite and the benchmark against ground truth in the manifest format of
``tests/data/samples/manifest.json``: each call lists its turns (speaker, start, end,
text).  Word and character error rates are computed after normalising both sides the
same way (lower case, «ё» as «е», no punctuation, numbers spelled out), because
references write «нажмите 5» and «нажмите пять» alike.  Needs the ``bench`` extra
(num2words), which the service does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from num2words import num2words

from callscribe.domain import Segment, Speaker

_NUMBER = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[^\w\s]")


def normalise(text: str, language: str = "ru") -> list[str]:
    text = text.lower().replace("ё", "е")
    text = _NUMBER.sub(lambda m: f" {num2words(int(m.group()), lang=language)} ", text)
    return _NOT_WORD.sub(" ", text).replace("_", " ").split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref = normalise(reference)
    return edit_distance(ref, normalise(hypothesis)) / max(len(ref), 1)


def cer(reference: str, hypothesis: str) -> float:
    ref = " ".join(normalise(reference))
    return edit_distance(ref, " ".join(normalise(hypothesis))) / max(len(ref), 1)


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # "operator", "client" or "hold" (music on hold: nobody speaks)
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Accuracy:
    wer: float  # speaker-blind, both sides in time order
    cer: float
    wer_by_speaker: Mapping[str, float]
    attribution: float  # share of words put on the speaker whose turn they fall in
    words_in_hold: int  # words placed inside music on hold
    words: int


def turns_of(call: Mapping[str, Any]) -> list[Turn]:
    return [
        Turn(t["speaker"], float(t["start"]), float(t["end"]), t["text"]) for t in call["turns"]
    ]


def score(turns: Sequence[Turn], segments: Iterable[Segment]) -> Accuracy:
    """Compare a transcript with the ground-truth turns of the same call."""
    ordered = sorted(segments, key=lambda s: s.start)
    spoken = sorted((t for t in turns if t.speaker != "hold"), key=lambda t: t.start)
    reference = " ".join(t.text for t in spoken)
    hypothesis = " ".join(s.text for s in ordered)
    by_speaker = {
        side: wer(
            " ".join(t.text for t in spoken if t.speaker == side),
            " ".join(s.text for s in ordered if s.speaker.value == side),
        )
        for side in (Speaker.OPERATOR.value, Speaker.CLIENT.value)
    }
    right = in_hold = total = 0
    for segment in ordered:
        count = len(normalise(segment.text))
        total += count
        turn = _nearest_turn(turns, (segment.start + segment.end) / 2)
        if turn.speaker == "hold":
            in_hold += count
        elif turn.speaker == segment.speaker.value:
            right += count
    return Accuracy(
        wer=wer(reference, hypothesis),
        cer=cer(reference, hypothesis),
        wer_by_speaker=by_speaker,
        attribution=right / max(total, 1),
        words_in_hold=in_hold,
        words=total,
    )


def _nearest_turn(turns: Sequence[Turn], moment: float) -> Turn:
    def distance(turn: Turn) -> float:
        if turn.start <= moment <= turn.end:
            return 0.0
        return min(abs(moment - turn.start), abs(moment - turn.end))

    return min(turns, key=distance)
