"""The ground-truth check the model tests rely on must fail when a transcript is wrong:
swapped speakers, a shifted clock, other words, a missing turn."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.domain import Segment, Speaker, Transcript
from callscribe.transcription.render import dialogue
from tests.groundtruth import (
    BOUNDARY_SECONDS,
    dialogue_mismatches,
    segment_mismatches,
    spoken_turns,
)
from tests.samples import manifest

CALLS = {call["name"]: call for call in manifest()["calls"]}
CALL = CALLS["call-public-01"]
OTHER_SIDE = {Speaker.OPERATOR: Speaker.CLIENT, Speaker.CLIENT: Speaker.OPERATOR}


def as_heard(call: dict[str, Any], *, early: float = 0.6, short: float = 0.3) -> list[Segment]:
    """The turns as the model hears them at worst on the hosts measured: starting early,
    ending early, the text as said."""
    return [
        Segment(Speaker(t.speaker), max(0.0, t.start - early), t.end - short, t.text, -0.2, 0.0)
        for t in spoken_turns(call)
    ]


def as_dialogue(segments: list[Segment]) -> str:
    transcript = Transcript(tuple(segments), duration=CALL["duration_s"], language="ru", model="m")
    return dialogue(transcript, RenderSettings())


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_transcript_as_heard_on_any_measured_host_passes(name: str) -> None:
    segments = as_heard(CALLS[name])
    assert segment_mismatches(CALLS[name], segments) == []
    transcript = Transcript(tuple(segments), duration=1.0, language="ru", model="m")
    assert dialogue_mismatches(CALLS[name], dialogue(transcript, RenderSettings())) == []


def test_a_turn_split_into_two_segments_passes() -> None:
    segments = as_heard(CALL)
    long = max(segments, key=lambda s: s.end - s.start)
    middle = (long.start + long.end) / 2
    words = long.text.split()
    halves = [
        dataclasses.replace(long, end=middle, text=" ".join(words[: len(words) // 2])),
        dataclasses.replace(long, start=middle, text=" ".join(words[len(words) // 2 :])),
    ]
    split = [s for s in segments if s is not long] + halves
    assert segment_mismatches(CALL, split) == []


def test_swapped_speakers_fail() -> None:
    swapped = [dataclasses.replace(s, speaker=OTHER_SIDE[s.speaker]) for s in as_heard(CALL)]
    problems = segment_mismatches(CALL, swapped)
    assert any("is in no operator turn" in p for p in problems), problems
    assert any("not heard" in p for p in problems), problems
    assert any("WER" in p for p in problems), problems
    assert dialogue_mismatches(CALL, as_dialogue(swapped)) != []


@pytest.mark.parametrize("shift", [BOUNDARY_SECONDS + 0.3, -(BOUNDARY_SECONDS + 0.3)])
def test_a_shifted_clock_fails(shift: float) -> None:
    exact = as_heard(CALL, early=0.0, short=0.0)
    shifted = [dataclasses.replace(s, start=s.start + shift, end=s.end + shift) for s in exact]
    assert segment_mismatches(CALL, shifted) != []
    if shift > 0:  # a dialogue line shows the start, rounded down
        assert dialogue_mismatches(CALL, as_dialogue(shifted)) != []


def test_other_words_fail() -> None:
    garbled = [
        dataclasses.replace(s, text="алло алло слышно меня") if s.speaker is Speaker.CLIENT else s
        for s in as_heard(CALL)
    ]
    problems = segment_mismatches(CALL, garbled)
    assert [p for p in problems if "WER" in p] == [problems[-1]]
    assert problems[-1].startswith("client WER")
    assert any("client WER" in p for p in dialogue_mismatches(CALL, as_dialogue(garbled)))


def test_a_turn_not_heard_fails() -> None:
    segments = as_heard(CALL)
    del segments[3]  # the client's second turn: the operator's around it become one line
    assert any("not heard" in p for p in segment_mismatches(CALL, segments))
    assert dialogue_mismatches(CALL, as_dialogue(segments)) == ["8 dialogue lines for 10 turns"]


def test_dialogue_lines_with_other_labels_are_read_with_those_labels() -> None:
    labels = RenderSettings(operator_label="Agent", client_label="Customer")
    transcript = Transcript(tuple(as_heard(CALL)), duration=1.0, language="ru", model="m")
    assert dialogue_mismatches(CALL, dialogue(transcript, labels), labels) == []
    assert dialogue_mismatches(CALL, dialogue(transcript, labels)) != []
