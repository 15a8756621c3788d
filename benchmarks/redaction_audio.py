"""Numbers read out by a real voice, heard by the model: the ``audio`` part of the
redaction test set (``tests/data/redaction/audio-heard.jsonl``) and the card call the
tests silence (``tests/data/redaction/card-call.wav``).

Each call is the client reading one value (a card, a phone, a passport, SNILS, INN or
an extension number that must stay) from the Russian Asterisk digit prompts: digit by
digit or in pairs («сорок два»), with short pauses between digits and longer ones between
groups, some groups in turns of their own with the operator's «Спасибо» between them.
The client's side is made to sound like a mobile line as in ``make_calls.py``.  The
model (the default ``[transcription]`` settings) transcribes them once; its segments are
stored as they came out.  The Asterisk prompts have no «номер карты» or «паспорт», so the
operator's question before a reading is added to the transcript as text (the case's
``about`` says so); «Телефонный номер» and «Внутренний номер?» are the real prompts.

    .venv/bin/python benchmarks/redaction_audio.py [--seeds 23 7 99] [--out FILE] [--keep DIR]

Labels: every client segment that overlaps a reading, from its first number to its last
(digits or number words), is a piece of that value.

Voice: Debian asterisk-core-sounds-ru-wav (Maxim Topal / ivrvoice.ru, CC-BY-3.0).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _redaction_speech as speech
import numpy as np
import soundfile as sf
from make_calls import PROMPTS, RATE, client_voice, ensure_sources, read_mono, to_pcm16

from callscribe.config import TranscriptionSettings
from callscribe.transcription.audio import decode_file
from callscribe.transcription.batch import transcribe_all
from callscribe.transcription.engine import Engine

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data" / "redaction"
OUT = DATA / "audio-heard.jsonl"
CARD_CALL = DATA / "card-call.wav"
CARD_CALL_NAME = "audio23-card-10"  # no card cue in it: found by Luhn alone
_NUMBER = re.compile(
    r"\d+|\b(?:ноль|один|одна|два|две|три|четыре|пять|шесть|семь|восемь|девять|"
    r"\w+надцать|десять|двадцать|тридцать|сорок|пятьдесят|шестьдесят|семьдесят|"
    r"восемьдесят|девяносто|сто)\b",
    re.IGNORECASE,
)


def _trimmed(name: str) -> np.ndarray:
    audio = read_mono(PROMPTS / f"{name}.wav")
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[max(0, loud[0] - 80) : loud[-1] + 80] if len(loud) else audio


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def _said(group: str, style: str) -> list[str]:
    """Prompt names saying ``group``: digit by digit, or in pairs («сорок два»)."""
    names = []
    for pair in speech.pairs_of(group):
        if style == "digits" or len(pair) == 1 or pair[0] == "0":
            names += [f"digits/{digit}" for digit in pair]
        elif pair[0] == "1":
            names.append(f"digits/{pair}")
        else:
            names += [f"digits/{pair[0]}0"] + ([f"digits/{pair[1]}"] if pair[1] != "0" else [])
    return names


@dataclass
class Reading:
    kind: str
    lookalike: bool
    spans: list[tuple[float, float]] = field(default_factory=list)  # client channel, seconds


@dataclass
class AudioCall:
    name: str
    about: str
    cue: str | None  # operator text added before the reading
    turns: list[tuple[int, float, np.ndarray]] = field(default_factory=list)  # side, start, audio
    reading: Reading | None = None
    cue_at: float = 0.0
    clock: float = 0.5

    def add(self, side: int, audio: np.ndarray, pause: float) -> tuple[float, float]:
        start = self.clock + pause
        self.turns.append((side, start, audio))
        self.clock = start + len(audio) / RATE
        return start, self.clock

    def stereo(self) -> np.ndarray:
        out = np.zeros((int((self.clock + 1.0) * RATE), 2))
        for side, start, audio in self.turns:
            first = int(start * RATE)
            out[first : first + len(audio), side] = audio
        return out


def _read_groups(
    call: AudioCall, groups: list[str], rng: random.Random, pitch: float, noise: np.random.Generator
) -> None:
    style = rng.choice(("digits", "digits", "pairs"))
    assert call.reading is not None
    chunks = [groups] if rng.random() < 0.5 else [[g] for g in groups]
    for number, chunk in enumerate(chunks):
        parts: list[np.ndarray] = []
        for group in chunk:
            for name in _said(group, style):
                parts += [_trimmed(name), _silence(rng.uniform(0.04, 0.2))]
            parts.append(_silence(rng.uniform(0.4, 1.0)))
        audio = client_voice(np.concatenate(parts), pitch, noise)
        call.reading.spans.append(call.add(1, audio, rng.uniform(0.4, 0.9)))
        if number < len(chunks) - 1 and rng.random() < 0.6:
            call.add(0, _trimmed("auth-thankyou"), rng.uniform(0.2, 0.5))
    call.about += f", {style}, {'one turn' if len(chunks) == 1 else 'a turn per group'}"


VALUES = (
    ("card", "Продиктуйте, пожалуйста, номер карты.", 10),
    ("card", None, 3),
    ("phone", None, 4),
    ("passport", "Назовите серию и номер паспорта.", 3),
    ("snils", "Продиктуйте СНИЛС.", 3),
    ("inn", "Назовите ваш ИНН.", 2),
    ("extension", None, 3),
)


def build(seed: int) -> list[AudioCall]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    calls: list[AudioCall] = []
    for kind, cue, count in VALUES:
        for _ in range(count):
            noise = np.random.default_rng([seed, len(calls)])
            pitch = 1.0 + rng.choice((-1, 1)) * rng.uniform(0.08, 0.12)
            done = sum(c.reading.kind == kind for c in calls if c.reading)
            name = f"audio{seed}-{kind}-{done:02d}"
            call = AudioCall(name, f"{kind} read by a real voice", cue)
            if kind == "card":
                value = speech.card(rng)
                groups = speech.split(value, (4, 4, 4, 4))
                call.add(0, _trimmed("number"), 0.3)
            elif kind == "phone":
                value = "8" + speech.mobile(rng)
                groups = speech.split(value, (1, 3, 3, 2, 2))
                call.add(0, _trimmed(rng.choice(("telephone-number", "privacy-prompt"))), 0.3)
            elif kind == "extension":
                value = str(rng.randint(100, 9999))
                groups = [value]
                call.add(0, _trimmed("vm-extension"), 0.3)
            else:
                value = {"passport": speech.passport, "snils": speech.snils}.get(
                    kind, lambda r: speech.inn(r, 12)
                )(rng)
                groups = speech.split(
                    value, {"passport": (2, 2, 6), "snils": (3, 3, 3, 2)}.get(kind, (4, 4, 4))
                )
            if cue is not None:
                call.cue_at = call.clock + 0.2
                call.clock += 2.6  # room for the question added as text
                call.about += " (operator's question added as text)"
            call.reading = Reading(kind, kind == "extension")
            _read_groups(call, groups, rng, pitch, noise)
            calls.append(call)
    return calls


def _pieces(segments: list[dict[str, Any]], spans: list[tuple[float, float]]) -> list[list[int]]:
    pieces = []
    for index, segment in enumerate(segments):
        if segment["speaker"] != "client":
            continue
        if not any(
            segment["start"] < end + 0.3 and segment["end"] > start - 0.3 for start, end in spans
        ):
            continue
        numbers = list(_NUMBER.finditer(segment["text"]))
        if numbers:
            pieces.append([index, numbers[0].start(), numbers[-1].end()])
    return pieces


def case_of(call: AudioCall, heard: list[dict[str, Any]]) -> dict[str, Any]:
    segments = [dict(s) for s in heard]
    if call.cue is not None:
        question = {
            "speaker": "operator",
            "start": round(call.cue_at, 2),
            "end": round(call.cue_at + 2.2, 2),
            "text": call.cue,
        }
        segments = sorted([*segments, question], key=lambda s: s["start"])
    assert call.reading is not None
    labelled = {"kind": call.reading.kind, "pieces": _pieces(segments, call.reading.spans)}
    return {
        "id": call.name,
        "origin": "audio",
        "about": call.about,
        "duration": round(call.clock + 1.0, 2),
        "client_number": None,
        "line_number": None,
        "segments": segments,
        "values": [] if call.reading.lookalike or not labelled["pieces"] else [labelled],
        "lookalikes": [labelled] if call.reading.lookalike and labelled["pieces"] else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[23, 7, 99])
    parser.add_argument("--keep", type=Path, help="also keep the calls' audio here")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="cases to write (another file: no card call)"
    )
    args = parser.parse_args(argv)
    ensure_sources()
    calls = [call for seed in args.seeds for call in build(seed)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for call in calls:
            path = folder / f"{call.name}.wav"
            sf.write(path, to_pcm16(call.stereo()), RATE, subtype="PCM_16")
            paths.append(path)
        settings = TranscriptionSettings()
        engine = Engine(settings)
        transcripts = {}
        for outcome in transcribe_all(
            engine, paths, lambda p: decode_file(p, channels=settings.channels)
        ):
            assert outcome.transcript is not None, outcome.error
            transcripts[outcome.item] = [
                {"speaker": s.speaker.value, "start": s.start, "end": s.end, "text": s.text}
                for s in outcome.transcript.segments
            ]
        if args.out == OUT:
            card = next(p for p, c in zip(paths, calls, strict=True) if c.name == CARD_CALL_NAME)
            CARD_CALL.write_bytes(card.read_bytes())
    with args.out.open("w", encoding="utf-8") as out:
        for call, path in zip(calls, paths, strict=True):
            out.write(json.dumps(case_of(call, transcripts[path]), ensure_ascii=False) + "\n")
    print(f"{len(calls)} calls heard; {args.out} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
