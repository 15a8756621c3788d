from __future__ import annotations

import math

from callscribe.config import DEFAULT_HALLUCINATIONS
from callscribe.domain import Speaker
from callscribe.transcription.hallucinations import HallucinationFilter
from callscribe.transcription.segments import TimedWord, build_segments

FILTER = HallucinationFilter(DEFAULT_HALLUCINATIONS)


def word(speaker: Speaker, stretch: int, start: float, text: str) -> TimedWord:
    return TimedWord(speaker, stretch, start, start + 0.3, text, 0.9, 0.01)


def test_segments_interleave_speakers_by_time() -> None:
    words = [
        word(Speaker.OPERATOR, 0, 0.0, " Здравствуйте,"),
        word(Speaker.OPERATOR, 0, 0.4, " слушаю."),
        word(Speaker.CLIENT, 10, 1.5, " Добрый"),
        word(Speaker.CLIENT, 10, 1.9, " день."),
        word(Speaker.OPERATOR, 90, 3.0, " Да?"),
    ]
    segments, dropped = build_segments(words, FILTER)
    assert [(s.speaker, s.text) for s in segments] == [
        (Speaker.OPERATOR, "Здравствуйте, слушаю."),
        (Speaker.CLIENT, "Добрый день."),
        (Speaker.OPERATOR, "Да?"),
    ]
    assert dropped == 0
    assert segments[0].start == 0.0
    assert segments[0].end == 0.7


def test_a_long_pause_starts_a_new_segment() -> None:
    words = [word(Speaker.CLIENT, 0, 0.0, " Раз."), word(Speaker.CLIENT, 0, 2.0, " Два.")]
    segments, _ = build_segments(words, FILTER)
    assert [s.text for s in segments] == ["Раз.", "Два."]


def test_invented_text_is_dropped_and_counted() -> None:
    words = [
        word(Speaker.OPERATOR, 0, 0.0, " Продолжение"),
        word(Speaker.OPERATOR, 0, 0.4, " следует..."),
    ]
    segments, dropped = build_segments(words, FILTER)
    assert segments == ()
    assert dropped == 1


def test_confidence_is_the_mean_log_probability_of_its_words() -> None:
    segments, _ = build_segments([word(Speaker.CLIENT, 0, 0.0, " Да.")], FILTER)
    assert segments[0].avg_logprob == round(math.log(0.9), 4)


def test_edge_words_stretched_over_silence_are_trimmed() -> None:
    middle = [
        TimedWord(Speaker.CLIENT, 0, 2.0 + 0.3 * i, 2.3 + 0.3 * i, f" слово{i}", 0.9, 0.0)
        for i in range(4)
    ]
    words = [
        TimedWord(Speaker.CLIENT, 0, 0.0, 2.0, " Алло,", 0.9, 0.0),  # aligned over the pause
        *middle,
        TimedWord(Speaker.CLIENT, 0, 3.2, 5.0, " я.", 0.9, 0.0),  # and over the silence after
    ]
    (segment,), _ = build_segments(words, FILTER)
    # the median word lasts 0.3 s, so a word at the edge may last at most 0.6 s
    assert (segment.start, segment.end) == (1.4, 3.8)


def test_latin_lookalikes_in_a_russian_word_become_cyrillic() -> None:
    # «достигнутe» ends in a Latin "e" (a cut vocabulary wrote it so); "www" and "iPhone"
    # have no Cyrillic letter, "Qиви" a Latin letter with no Cyrillic twin.
    said = [" Лимит", " достигнутe,", " www,", " iPhone-а,", " Qиви."]
    words = [word(Speaker.OPERATOR, 0, 0.3 * index, text) for index, text in enumerate(said)]
    segments, _ = build_segments(words, FILTER)
    assert segments[0].text == "Лимит достигнуте, www, iPhone-а, Qиви."
    assert "\u0435" in segments[0].text.split()[1]  # Cyrillic ie
