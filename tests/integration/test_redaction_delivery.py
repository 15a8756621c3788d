"""redaction.delivery.for_sink: what one sink may receive of a call, text and audio."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from callscribe.config.redaction import RedactionPolicy, RedactionSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.domain import CallEvent, Segment, Speaker, Transcript
from callscribe.redaction.audio import silence_spans
from callscribe.redaction.delivery import for_sink
from callscribe.transcription.audio import AudioLimits

DATA = Path(__file__).parent.parent / "data" / "redaction"
URL = "https://pbx.example.com/records/1.wav"
EVENT = CallEvent("pbx", "1")


def heard() -> Transcript:
    """What the model heard on card-call.wav (benchmarks/redaction_audio.py)."""
    case = next(
        json.loads(line)
        for line in (DATA / "audio-heard.jsonl").read_text("utf-8").splitlines()
        if json.loads(line)["id"] == "audio23-card-10"
    )
    segments = tuple(
        Segment(Speaker(s["speaker"]), s["start"], s["end"], s["text"], 0.0, 0.0)
        for s in case["segments"]
    )
    return Transcript(segments, case["duration"], "ru", "base")


async def _save(progress: Mapping[str, Any]) -> None:
    raise AssertionError("nothing to save")


@pytest.fixture
def context(tmp_path: Path) -> DeliveryContext:
    folder = tmp_path / "recordings" / "1"
    folder.mkdir(parents=True)
    recording = folder / "recording-1.wav"
    shutil.copy(DATA / "card-call.wav", recording)
    return DeliveryContext("key", {}, _save, recording=recording, recording_url=URL)


def policy(**settings: Any) -> RedactionPolicy:
    return RedactionSettings.model_validate(settings).settings_for("helpdesk")


async def _silence(source: Path, spans: Sequence[tuple[float, float]], target: Path) -> Path:
    return silence_spans(source, spans, target, limits=AudioLimits())


def view(
    transcript: Transcript | None,
    context: DeliveryContext,
    chosen: RedactionPolicy,
    sink: str = "helpdesk",
) -> tuple[Transcript | None, DeliveryContext]:
    return asyncio.run(
        for_sink(sink, transcript, context, policy=chosen, event=EVENT, silence=_silence)
    )


def test_the_helpdesk_gets_the_card_hidden_and_silenced_and_no_link_to_the_original(
    context: DeliveryContext,
) -> None:
    transcript, given = view(heard(), context, policy(enabled=True, audio=True))
    assert transcript is not None
    (card,) = transcript.redactions or ()
    assert card.kind == "card"
    assert given.recording_url is None
    assert given.recording == context.recording.with_name("recording-redacted-helpdesk.wav")
    silenced, rate = sf.read(given.recording, always_2d=True)
    assert not silenced[int(card.start * rate) : int(card.end * rate)].any()
    original, _ = sf.read(context.recording, always_2d=True)  # left as it was
    assert original[int(card.start * rate) : int(card.end * rate)].any()


def test_text_only_keeps_the_recording_and_its_link(context: DeliveryContext) -> None:
    transcript, given = view(heard(), context, policy(enabled=True))
    assert transcript is not None
    assert transcript.redactions
    assert given is context


def test_nothing_hidden_nothing_silenced(context: DeliveryContext) -> None:
    clean = Transcript((Segment(Speaker.CLIENT, 1.0, 2.0, "Добрый день.", 0, 0),), 20.0, "ru", "x")
    transcript, given = view(clean, context, policy(enabled=True, audio=True))
    assert transcript is not None
    assert transcript.redactions == ()
    assert given is context


def test_a_recording_retention_deleted_is_not_linked_either(context: DeliveryContext) -> None:
    gone = DeliveryContext("key", {}, _save, recording=None, recording_url=URL)
    _, given = view(heard(), gone, policy(enabled=True, audio=True))
    assert (given.recording, given.recording_url) == (None, None)


def test_a_sink_with_redaction_off_gets_everything_as_it_is(context: DeliveryContext) -> None:
    transcript = heard()
    settings = RedactionSettings.model_validate(
        {"enabled": True, "audio": True, "sinks": {"archive": {"enabled": False}}}
    )
    given = view(transcript, context, settings.settings_for("archive"), "archive")
    assert given == (transcript, context)
    assert view(None, context, policy(enabled=True), "archive") == (
        None,
        context,
    )
