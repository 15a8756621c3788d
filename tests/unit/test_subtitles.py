"""Subtitle cues follow the common guidelines; a mono transcript reads in paragraphs."""

from __future__ import annotations

import re

import pytest

from callscribe.config import RenderSettings
from callscribe.domain import Segment, Speaker, Transcript
from callscribe.transcription.render import render
from callscribe.transcription.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    MAX_LINES,
    Cue,
    cues,
)

LONG = (
    "Поздравляем! Вы закончили установку и выполнение программы ай-пи телефонной станции "
    "«Астериск». Вы также установили набор типовых звуков и конфигурационных файлов, которые "
    "помогут вам начать работу. Вы сможете перемещаться по данной демонстрации при помощи "
    "пронумерованных кнопок, как и в любой обычной телефонной станции."
)
PREFIXES = {Speaker.OPERATOR: "Оператор: ", Speaker.CLIENT: "Клиент: "}


def segment(text: str, start: float, end: float, speaker: Speaker = Speaker.OPERATOR) -> Segment:
    return Segment(speaker, start, end, text, -0.2, 0.0)


def check_guidelines(all_cues: list[Cue], segments: list[Segment]) -> None:
    for cue in all_cues:
        assert 1 <= len(cue.lines) <= MAX_LINES, cue
        assert all(len(line) <= MAX_LINE_CHARS for line in cue.lines), cue
        assert cue.end - cue.start <= MAX_CUE_SECONDS + 1e-9, cue
        assert cue.start < cue.end, cue
    said = " ".join(s.text for s in segments).split()
    shown = " ".join(line for cue in all_cues for line in cue.lines).split()
    assert [w for w in shown if not w.endswith(":")] == said  # every word, whole, in order


def test_a_long_segment_becomes_cues_within_the_guidelines() -> None:
    segments = [segment(LONG, 47.8, 79.1)]
    result = cues(segments, PREFIXES)
    check_guidelines(result, segments)
    assert result[0].start == 47.8
    assert result[-1].end == pytest.approx(79.1)
    assert len(result) >= 5


def test_short_segments_stay_one_cue_each() -> None:
    segments = [segment("Слушаю вас.", 1.0, 2.0), segment("Добрый день.", 2.5, 3.5, Speaker.CLIENT)]
    assert cues(segments, PREFIXES) == [
        Cue(Speaker.OPERATOR, 1.0, 2.0, ("Оператор: Слушаю вас.",)),
        Cue(Speaker.CLIENT, 2.5, 3.5, ("Клиент: Добрый день.",)),
    ]


def test_cues_of_one_segment_are_even_not_a_last_orphan_word() -> None:
    text = "Извините, данный номер не существует. Пожалуйста, попробуйте еще раз."
    result = cues([segment(text, 11.6, 16.2)], PREFIXES)
    assert [len(c.lines) for c in result] == [2, 1]
    assert result[1].lines == ("Оператор: Пожалуйста, попробуйте еще раз.",)


def test_a_word_longer_than_a_line_keeps_a_line_of_its_own() -> None:
    word = "https://example.com/" + "x" * 60
    result = cues([segment(f"ссылка {word} вот", 0.0, 3.0)])
    assert [line for c in result for line in c.lines] == ["ссылка", word, "вот"]


def test_a_slow_segment_is_split_to_stay_under_seven_seconds() -> None:
    segments = [segment("Алло. Да. Слушаю.", 0.0, 20.0)]
    result = cues(segments)
    check_guidelines(result, segments)


def test_srt_and_vtt_use_the_cues() -> None:
    transcript = Transcript((segment(LONG, 47.8, 79.1),), 80.0, "ru", "base")
    srt = render(transcript, "srt")
    lines = [line for line in srt.splitlines() if line and not re.match(r"^\d+$|^\d\d:", line)]
    assert all(len(line) <= MAX_LINE_CHARS for line in lines)
    assert srt.count(" --> ") == len(cues(transcript.segments))
    vtt = render(transcript, "vtt")
    assert vtt.count("<v Оператор>") == len(cues(transcript.segments))


def test_mono_text_breaks_into_paragraphs_at_long_pauses() -> None:
    unknown = Speaker.UNKNOWN
    transcript = Transcript(
        (
            segment("Алло, добрый день.", 0.5, 2.0, unknown),
            segment("Слушаю вас.", 2.4, 3.2, unknown),  # 0.4 s: same paragraph
            segment("Я по поводу заказа.", 5.0, 7.0, unknown),  # 1.8 s: a new one
        ),
        8.0,
        "ru",
        "base",
    )
    assert render(transcript, "text") == (
        "[00:00] Собеседник: Алло, добрый день. Слушаю вас.\n"
        "[00:05] Собеседник: Я по поводу заказа.\n"
    )
    wide = RenderSettings(paragraph_pause_seconds=5.0)
    assert len(render(transcript, "text", wide).splitlines()) == 1


def test_stereo_text_keeps_one_line_per_turn_whatever_the_pauses() -> None:
    transcript = Transcript(
        (segment("Алло.", 0.5, 1.0), segment("Слушаю вас.", 9.0, 10.0)), 10.0, "ru", "base"
    )
    assert render(transcript, "text") == "[00:00] Оператор: Алло. Слушаю вас.\n"
