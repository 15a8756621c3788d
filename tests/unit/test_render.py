from __future__ import annotations

import json

import pytest

from callscribe.config import RenderSettings
from callscribe.domain import Segment, Speaker, Timings, Transcript
from callscribe.errors import TranscriptionError
from callscribe.transcription.render import from_json_dict, render, to_json_dict, turns

TRANSCRIPT = Transcript(
    segments=(
        Segment(Speaker.OPERATOR, 1.41, 4.5, "Здравствуйте, компания «Ромашка».", -0.2, 0.01),
        Segment(Speaker.OPERATOR, 5.0, 6.0, "Слушаю вас.", -0.1, 0.01),
        Segment(Speaker.CLIENT, 6.8, 9.25, "Добрый день, у меня вопрос <по заказу>.", -0.3, 0.02),
        Segment(Speaker.OPERATOR, 3725.0, 3726.5, "До свидания.", -0.1, 0.0),
    ),
    duration=3727.0,
    language="ru",
    model="base",
    dropped_hallucinations=2,
    timings=Timings(decode=0.1, vad=0.2, recognition=3.0),
)


def test_dialogue_uses_russian_labels_and_joins_turns() -> None:
    assert render(TRANSCRIPT, "text") == (
        "[00:01] Оператор: Здравствуйте, компания «Ромашка». Слушаю вас.\n"
        "[00:06] Клиент: Добрый день, у меня вопрос <по заказу>.\n"
        "[1:02:05] Оператор: До свидания.\n"
    )


def test_labels_are_configurable() -> None:
    labels = RenderSettings(operator_label="Agent", client_label="Customer")
    assert render(TRANSCRIPT, "text", labels).splitlines()[1] == (
        "[00:06] Customer: Добрый день, у меня вопрос <по заказу>."
    )


def test_srt_numbers_blocks_with_comma_milliseconds() -> None:
    blocks = render(TRANSCRIPT, "srt").split("\n\n")
    assert blocks[0] == (  # 43 characters: two lines of at most 42
        "1\n00:00:01,410 --> 00:00:04,500\nОператор: Здравствуйте, компания\n«Ромашка»."
    )
    assert blocks[3].startswith("4\n01:02:05,000 --> 01:02:06,500\n")


def test_webvtt_names_voices_and_escapes_markup() -> None:
    text = render(TRANSCRIPT, "vtt")
    assert text.startswith("WEBVTT\n\n00:00:01.410 --> 00:00:04.500\n<v Оператор>")
    assert "<v Клиент>Добрый день, у меня вопрос &lt;по заказу&gt;." in text


def test_json_is_the_documented_format_and_reads_back() -> None:
    document = json.loads(render(TRANSCRIPT, "json", source="call.wav"))
    assert document["format"] == "callscribe.transcript"
    assert document["version"] == 1
    assert document["source"] == "call.wav"
    assert document["segments"][2] == {
        "speaker": "client",
        "start": 6.8,
        "end": 9.25,
        "text": "Добрый день, у меня вопрос <по заказу>.",
        "avg_logprob": -0.3,
        "no_speech_prob": 0.02,
    }
    assert document["dropped_hallucinations"] == 2
    assert from_json_dict(document) == TRANSCRIPT


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"format": "callscribe.transcript", "version": 2, "segments": []},
        {**to_json_dict(TRANSCRIPT), "segments": [{"speaker": "boss", "start": 0, "end": 1}]},
        {**to_json_dict(TRANSCRIPT), "duration": "long"},
    ],
)
def test_malformed_json_documents_are_refused_with_a_reason(broken: dict[str, object]) -> None:
    with pytest.raises(TranscriptionError):
        from_json_dict(broken)


def test_turns_keep_the_first_start_and_last_end() -> None:
    first = turns(TRANSCRIPT.segments)[0]
    assert (first.start, first.end) == (1.41, 6.0)


def test_empty_transcript_renders_empty_dialogue() -> None:
    empty = Transcript((), 10.0, "ru", "base")
    assert render(empty, "text") == ""
    assert render(empty, "vtt") == "WEBVTT\n\n"
