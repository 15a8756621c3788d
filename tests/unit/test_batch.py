"""The CLI's batch path: decoding ahead within a budget of held audio, outcomes in order."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import cast

import numpy as np
import pytest

from callscribe.domain import Speaker, Timings, Transcript
from callscribe.errors import AudioError
from callscribe.transcription import batch
from callscribe.transcription.audio import CallAudio, Track
from callscribe.transcription.batch import AudioBudget, transcribe_all
from callscribe.transcription.engine import Engine

CALL_SECONDS = 100.0


def _audio(name: str) -> CallAudio:
    silence = np.zeros(160, dtype=np.float32)  # the length that counts is `duration`
    return CallAudio(name, CALL_SECONDS, (Track(Speaker.OPERATOR, silence),), 8000, "WAV")


class CountingEngine:
    """Stands in for the model: records how much decoded audio was held at each group."""

    def __init__(self, decoded: list[str]) -> None:
        self.decoded = decoded
        self.recognised: list[str] = []
        self.held_at_groups: list[float] = []

    def transcribe_many(self, calls: Sequence[CallAudio]) -> list[Transcript]:
        waiting = len(self.decoded) - len(self.recognised)
        self.held_at_groups.append(waiting * CALL_SECONDS)
        self.recognised += [call.source for call in calls]
        return [
            Transcript(
                segments=(),
                duration=call.duration,
                language="ru",
                model="test",
                dropped_hallucinations=0,
                timings=Timings(),
            )
            for call in calls
        ]


def _run(names: list[str], engine: CountingEngine) -> list[batch.Outcome[str]]:
    def decode(name: str) -> CallAudio:
        if name == "broken":
            raise AudioError(name, "not a recording")
        engine.decoded.append(name)
        return _audio(name)

    return list(transcribe_all(cast(Engine, engine), names, decode))


def test_decoded_audio_held_stays_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "GROUP_AUDIO_SECONDS", 3 * CALL_SECONDS)
    monkeypatch.setattr(batch, "HELD_AUDIO_SECONDS", 6 * CALL_SECONDS)
    names = [f"call-{i:02d}" for i in range(30)]
    engine = CountingEngine([])
    outcomes = _run(names, engine)
    assert [outcome.item for outcome in outcomes] == names
    assert engine.recognised == names
    # The budget, passed by at most the calls that had started decoding.
    assert max(engine.held_at_groups) <= (6 + batch.DECODE_THREADS) * CALL_SECONDS
    assert len(engine.held_at_groups) >= 10  # groups of about three calls, not all at once


def test_a_call_longer_than_the_budget_still_goes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch, "HELD_AUDIO_SECONDS", CALL_SECONDS / 2)
    engine = CountingEngine([])
    outcomes = _run(["a", "broken", "b", "c"], engine)
    assert [outcome.transcript is not None for outcome in outcomes] == [True, False, True, True]
    assert isinstance(outcomes[1].error, AudioError)
    assert engine.recognised == ["a", "b", "c"]


def test_stopping_early_leaves_no_decode_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "GROUP_AUDIO_SECONDS", CALL_SECONDS)
    monkeypatch.setattr(batch, "HELD_AUDIO_SECONDS", 2 * CALL_SECONDS)
    engine = CountingEngine([])
    outcomes = transcribe_all(cast(Engine, engine), [f"call-{i}" for i in range(20)], _audio)
    assert next(outcomes).item == "call-0"
    finished = threading.Event()

    def close() -> None:
        outcomes.close()  # shuts the decode pool down: hangs if a decode still waits
        finished.set()

    threading.Thread(target=close, daemon=True).start()
    assert finished.wait(timeout=30)


def test_the_budget_lets_decodes_start_in_order_and_while_there_is_room() -> None:
    budget = AudioBudget(limit_seconds=100.0)
    budget.wait_for_room(ticket=0)
    budget.hold(150.0)
    started: list[int] = []

    def decode(ticket: int) -> None:
        budget.wait_for_room(ticket)
        started.append(ticket)
        budget.hold(60.0)

    later = threading.Thread(target=decode, args=(2,), daemon=True)
    later.start()
    first = threading.Thread(target=decode, args=(1,), daemon=True)
    first.start()
    first.join(timeout=0.2)
    assert started == []  # no room
    budget.release(150.0)
    first.join(timeout=30)
    # Its turn and room. Ticket 2 may follow at once (60 s held is still under 100), but
    # never before it.
    assert started[:1] == [1]
    later.join(timeout=30)
    assert started == [1, 2]
    assert budget.held == 120.0
    assert budget.is_full
