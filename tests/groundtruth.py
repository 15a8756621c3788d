"""Does a transcript say what the sample call says, at the right times, by the right side?

The model's words and times differ slightly from one CPU to another (CTranslate2 runs on
oneDNN on AMD hosts and on MKL on Intel hosts, where the encoder may run in OpenVINO), so
no test compares exact text or timestamps from one machine's run.  Every test that checks
what the model heard compares with the ground truth of the samples' manifests instead:

- every segment lies inside a turn of its own speaker, give or take
  :data:`BOUNDARY_SECONDS` (a swapped speaker or a shifted clock puts it outside);
- every spoken turn is heard by its own speaker (some segment of that speaker overlaps it);
- each side's word error rate is at most :data:`MAX_WER_PER_SPEAKER`;
- a rendered dialogue has one line per turn, in order, with the turn's speaker label and a
  clock within :data:`BOUNDARY_SECONDS` of the turn's start.

The bounds come from the figures in docs/benchmarks.md ("Model output differs by CPU"):
segments start up to 0.60 s before their turn (speech is padded by 0.6 s, and alignment
pulls a first word back over that silence) and end up to 0.23 s early; per side and call,
WER on the samples is 0.075–0.20, pooled 11.4–12.5 % on the AMD and Intel hosts.  The
margins (1 s, 0.35) are wide enough for those hosts and narrow enough to catch a swapped
speaker, a clock shifted by more than a second or a garbled side (tests/unit/test_groundtruth.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from callscribe.config import RenderSettings
from callscribe.domain import Segment, Speaker
from callscribe.transcription.accuracy import Turn, turns_of, wer

BOUNDARY_SECONDS = 1.0
MAX_WER_PER_SPEAKER = 0.35

_LINE = re.compile(r"^\[(\d+):(\d\d)\] ([^:]+): (.*)$")


def spoken_turns(call: Mapping[str, Any]) -> list[Turn]:
    return sorted((t for t in turns_of(call) if t.speaker != "hold"), key=lambda t: t.start)


def excerpt(call: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """The ground truth of the call's first ``seconds`` (whole turns only)."""
    turns = [t for t in call["turns"] if t["end"] <= seconds]
    return {**call, "duration_s": seconds, "turns": turns}


def segment_mismatches(call: Mapping[str, Any], segments: Iterable[Segment]) -> list[str]:
    """What is wrong with these segments against the call's ground truth ([] = nothing)."""
    turns = spoken_turns(call)
    ordered = sorted(segments, key=lambda s: s.start)
    problems = [
        f"{s.speaker.value} segment {s.start:.2f}-{s.end:.2f} s ({s.text[:40]!r}) is in no "
        f"{s.speaker.value} turn (±{BOUNDARY_SECONDS} s)"
        for s in ordered
        if not any(_holds(turn, s.start, s.end) for turn in turns if turn.speaker == s.speaker)
    ]
    problems += [
        f"{turn.speaker} turn {turn.start:.2f}-{turn.end:.2f} s ({turn.text[:40]!r}) not heard"
        for turn in turns
        if not any(
            s.speaker == turn.speaker and s.start < turn.end and s.end > turn.start for s in ordered
        )
    ]
    for side in (Speaker.OPERATOR, Speaker.CLIENT):
        said = " ".join(t.text for t in turns if t.speaker == side)
        heard = " ".join(s.text for s in ordered if s.speaker is side)
        problems += _wer_problem(side.value, said, heard)
    return problems


def dialogue_mismatches(
    call: Mapping[str, Any], dialogue: str, labels: RenderSettings | None = None
) -> list[str]:
    """What is wrong with a rendered text dialogue against the call's ground truth."""
    labels = labels or RenderSettings()
    names = {labels.operator_label: "operator", labels.client_label: "client"}
    turns = spoken_turns(call)
    lines = dialogue.splitlines()
    if len(lines) != len(turns):
        return [f"{len(lines)} dialogue lines for {len(turns)} turns"]
    problems: list[str] = []
    heard: dict[str, list[str]] = {"operator": [], "client": []}
    for line, turn in zip(lines, turns, strict=True):
        match = _LINE.match(line)
        if match is None:
            problems.append(f"not a dialogue line: {line[:60]!r}")
            continue
        minutes, seconds, label, text = match.groups()
        clock = int(minutes) * 60 + int(seconds)  # whole seconds, rounded down
        speaker = names.get(label)
        if speaker != turn.speaker:
            problems.append(f"{line[:60]!r}: the turn at {turn.start:.2f} s is {turn.speaker}'s")
        elif not turn.start - BOUNDARY_SECONDS - 1 < clock <= turn.start + BOUNDARY_SECONDS:
            problems.append(f"{line[:60]!r}: the turn starts at {turn.start:.2f} s")
        heard[turn.speaker].append(text)
    for side, texts in heard.items():
        said = " ".join(t.text for t in turns if t.speaker == side)
        problems += _wer_problem(side, said, " ".join(texts))
    return problems


def assert_heard_as_said(
    call: Mapping[str, Any],
    segments: Iterable[Segment] | None = None,
    dialogue: str | None = None,
    labels: RenderSettings | None = None,
) -> None:
    problems: list[str] = []
    if segments is not None:
        problems += segment_mismatches(call, segments)
    if dialogue is not None:
        problems += dialogue_mismatches(call, dialogue, labels)
    assert not problems, f"{call['name']}: " + "; ".join(problems)


def _holds(turn: Turn, start: float, end: float) -> bool:
    return turn.start - BOUNDARY_SECONDS <= start and end <= turn.end + BOUNDARY_SECONDS


def _wer_problem(side: str, said: str, heard: str) -> Sequence[str]:
    rate = wer(said, heard)
    if rate <= MAX_WER_PER_SPEAKER:
        return ()
    return (f"{side} WER {rate:.2f} > {MAX_WER_PER_SPEAKER}",)
