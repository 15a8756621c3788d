from __future__ import annotations

import pytest

from callscribe.config import DEFAULT_HALLUCINATIONS
from callscribe.transcription.hallucinations import HallucinationFilter, collapse_loops

FILTER = HallucinationFilter(DEFAULT_HALLUCINATIONS)


@pytest.mark.parametrize(
    "invented",
    [
        "Продолжение следует...",
        "ПРОДОЛЖЕНИЕ СЛЕДУЕТ",
        "Субтитры сделал DimaTorzok",
        "Субтитры создавал DimaTorzok.",
        "Редактор субтитров А.Семкин Корректор А.Егорова",
        "Спасибо за просмотр!",
        "Подписывайтесь на канал.",
    ],
)
def test_known_inventions_are_removed_and_counted(invented: str) -> None:
    assert FILTER.clean(invented) == ("", 1)


def test_real_speech_around_an_invention_is_kept() -> None:
    text, removed = FILTER.clean("Спасибо, до свидания. Продолжение следует...")
    assert (text, removed) == ("Спасибо, до свидания.", 1)


def test_ordinary_speech_is_untouched() -> None:
    speech = "Здравствуйте, подскажите, пожалуйста, статус заказа номер 15."
    assert FILTER.clean(speech) == (speech, 0)


def test_e_and_yo_are_the_same_letter_in_patterns() -> None:
    assert FILTER.clean("Продолжение следуёт")[1] == 1


def test_a_loop_keeps_one_copy() -> None:
    looped = " ".join(["Нажмите решетку."] * 6)
    assert collapse_loops(looped) == ("Нажмите решетку.", 1)


def test_a_single_word_loop_is_collapsed() -> None:
    assert collapse_loops("да да да да да да да хорошо") == ("да хорошо", 1)


def test_short_repetition_is_real_speech() -> None:
    assert collapse_loops("да, да, да, конечно") == ("да, да, да, конечно", 0)
