"""Calls, transcripts and delivery attempts for the helpdesk sink tests: a delivery's
progress kept across attempts the way the store keeps it (merged key by key)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from callscribe.connectors.base import DeliveryContext, Sink
from callscribe.domain import (
    Call,
    CallEvent,
    CallState,
    Direction,
    RecordingRef,
    Segment,
    Speaker,
    Transcript,
)
from callscribe.errors import SinkError

KEY = "cs1-" + "6f1c2a9b4d3e5f60" + "0" * 48
CLIENT = "+7 (999) 123-45-67"


def call(external_id: str = "1718000000.42", *, recorded: bool = True, **fields: Any) -> Call:
    values: dict[str, Any] = {
        "direction": Direction.INBOUND,
        "started_at": datetime.fromisoformat("2026-11-21T10:00:00+03:00"),
        "answered_at": datetime.fromisoformat("2026-11-21T10:00:05+03:00"),
        "ended_at": datetime.fromisoformat("2026-11-21T10:03:12+03:00"),
        "client_number": CLIENT,
        "operator_id": "101",
        "operator_name": "Иван Петров",
        "recordings": (RecordingRef("https://pbx.example/rec/42.wav"),) if recorded else (),
    }
    values.update(fields)
    if not recorded:
        values.setdefault("answered_at", None)
    event = CallEvent(source="pbx", external_id=external_id, **values)
    state = CallState.TRANSCRIBED if recorded else CallState.NO_RECORDING
    return Call(id=42, event=event, state=state, received_at=datetime.now(UTC))


def missed_call() -> Call:
    return call(recorded=False, answered_at=None)


def transcript(*turns: tuple[Speaker, float, str]) -> Transcript:
    segments = tuple(
        Segment(speaker, start, start + 2.0, text, -0.2, 0.01) for speaker, start, text in turns
    )
    return Transcript(segments=segments, duration=187.4, language="ru", model="base")


def dialogue() -> Transcript:
    return transcript(
        (Speaker.OPERATOR, 0.5, "Добрый день, компания «Ромашка», Иван."),
        (Speaker.CLIENT, 3.2, "Здравствуйте, вопрос по заказу № 15."),
        (Speaker.OPERATOR, 6.0, "Сейчас посмотрю & уточню <детали>."),
    )


def long_dialogue(turns: int) -> Transcript:
    speakers = (Speaker.OPERATOR, Speaker.CLIENT)
    return transcript(
        *(
            (
                speakers[n % 2],
                n * 3.0,
                f"Реплика номер {n}: проверяем длинный звонок без сокращений.",
            )
            for n in range(turns)
        )
    )


class Attempts:
    """One delivery's progress across attempts."""

    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.progress: dict[str, Any] = {}
        self.saves: list[dict[str, Any]] = []

    def context(self, recording_url: str | None = None) -> DeliveryContext:
        async def save(values: Mapping[str, Any]) -> None:
            self.saves.append(dict(values))
            self.progress.update(values)

        return DeliveryContext(
            key=self.key, progress=dict(self.progress), save=save, recording_url=recording_url
        )


async def retried(
    sink: Sink,
    the_call: Call,
    the_transcript: Transcript | None,
    attempts: Attempts,
    *,
    failures: int,
) -> list[SinkError]:
    """Deliver as the daemon retries: ``failures`` retryable failures, then success."""
    errors = []
    for _ in range(failures):
        with pytest.raises(SinkError) as failed:
            await sink.deliver(the_call, the_transcript, attempts.context())
        assert failed.value.retryable, failed.value
        errors.append(failed.value)
    await sink.deliver(the_call, the_transcript, attempts.context())
    return errors
