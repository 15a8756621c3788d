"""``callscribe transcribe --redact`` on a call where the client reads out a card number:
the real model hears it, the text and the JSON hide it, the silenced copy holds nothing
the model can hear as a number."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callscribe.cli import main

pytestmark = pytest.mark.slow

CARD_CALL = Path(__file__).parent.parent / "data" / "redaction" / "card-call.wav"
DIGITS = re.compile(r"\d")


def transcribe(*args: str, model_dir: Path) -> None:
    assert main(["transcribe", *args, "--model-dir", str(model_dir), "--no-progress"]) == 0


def test_the_card_is_hidden_in_the_text_and_silenced_in_the_audio(
    model_dir: Path, tmp_path: Path
) -> None:
    out, audio = tmp_path / "out", tmp_path / "audio"
    transcribe(
        str(CARD_CALL), "--format", "json", "--output", str(out), "--redacted-audio", str(audio),
        model_dir=model_dir,
    )  # fmt: skip
    document = json.loads((out / "card-call.json").read_text("utf-8"))
    (card,) = document["redactions"]
    assert (card["kind"], card["speaker"]) == ("card", "client")
    client = " ".join(s["text"] for s in document["segments"] if s["speaker"] == "client")
    assert "[номер карты]" in client
    assert not DIGITS.search(client), client  # no digit of the card left, none elsewhere
    readings = [s for s in document["segments"] if "[номер карты]" in s["text"]]
    assert card["start"] <= min(s["start"] for s in readings)
    assert card["end"] >= max(s["end"] for s in readings)

    silenced = audio / "card-call.redacted.wav"
    original, rate = sf.read(CARD_CALL, always_2d=True)
    quiet, _ = sf.read(silenced, always_2d=True)
    span = slice(int(card["start"] * rate), int(card["end"] * rate))
    assert np.abs(original[span]).max() > 0.1
    assert not quiet[span].any()

    transcribe(str(silenced), "--format", "json", "--output", str(out), model_dir=model_dir)
    heard = json.loads((out / "card-call.redacted.json").read_text("utf-8"))
    again = " ".join(s["text"] for s in heard["segments"] if s["speaker"] == "client")
    assert not DIGITS.search(again), again
