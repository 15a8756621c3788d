"""Spoken and written numbers in a speaker's stream, as runs of digits (redaction/numbers)."""

from __future__ import annotations

import pytest

from callscribe.domain import Speaker
from callscribe.redaction.numbers import number_runs
from callscribe.redaction.tokens import speaker_streams
from tests.dialogue import dialogue


def runs(*lines: str, speaker: Speaker = Speaker.CLIENT) -> list[list[str]]:
    """The groups of every run the speaker said."""
    streams = speaker_streams(dialogue(*lines).segments)
    (stream,) = [s for s in streams if s.speaker is speaker]
    return [[group.digits for group in run.groups] for run in number_runs(stream)]


@pytest.mark.parametrize(
    ("said", "groups"),
    [
        ("четыре два семь шесть", ["4", "2", "7", "6"]),
        ("сорок два семьдесят шесть", ["42", "76"]),
        ("сто двадцать три ноль ноль семь", ["123", "0", "0", "7"]),
        ("нуль восемь", ["0", "8"]),
        ("4276 тридцать восемь 00", ["4276", "38", "00"]),
        ("двести, двадцать один", ["200", "21"]),
        ("две тысячи двести четыре", ["2204"]),
        # A card read as whole numbers: the unit before a second «тысяч» starts the next.
        ("две тысячи сто двадцать шесть тысяч сто пять", ["2120", "6105"]),
        ("восемь о три", ["8", "0", "3"]),
        ("8 (916) 123-45-67", ["8", "916", "123", "45", "67"]),
        ("2,2,0,4", ["2", "2", "0", "4"]),
    ],
)
def test_numbers_said_become_groups_of_digits(said: str, groups: list[str]) -> None:
    assert runs(f"c: {said}") == [groups]


@pytest.mark.parametrize(
    ("said", "groups"),
    [
        # Whisper writes a pair said with a pause inside as its tens and unit apart.
        ("42, 76, 30, 8, 0, 0", ["42", "76", "38", "0", "0"]),
        ("30-4-10", ["34", "10"]),
        ("тридцать, три, двадцать, восемь", ["33", "28"]),
        # Digits read one by one never come out as a round ten.
        ("3, 0, 8", ["3", "0", "8"]),
        ("30, 0", ["30", "0"]),
    ],
)
def test_tens_and_units_written_apart_are_one_pair(said: str, groups: list[str]) -> None:
    assert runs(f"c: {said}") == [groups]


@pytest.mark.parametrize(
    "said",
    [
        "Я заплатил двенадцать тысяч пятьсот рублей.",
        "Я заплатил 12 500 рублей.",
        "Это стоит 4500 руб.",
        "Подождите 3 минуты.",
        "Скидка 15%.",
        "Я клиент с 2015 года.",
        "Оплатил до 25-го числа.",
        "Курьер будет в 14:30.",
        "Доставка 15.03.2024.",
        "Нужно три цифры.",
    ],
)
def test_what_counts_something_is_no_run(said: str) -> None:
    assert runs(f"c: {said}") == []


def test_a_run_goes_on_across_segments_and_the_other_speakers_yes() -> None:
    assert runs("c: 4276", "o: Да.", "c: 3800,", "o: Угу, записываю.", "c: 1234 5679") == [
        ["4276", "3800", "1234", "5679"]
    ]


def test_fillers_and_marks_join_while_other_words_end_a_run() -> None:
    assert runs("c: 4276, так, э 3800... дальше 1234") == [["4276", "3800", "1234"]]
    assert runs("c: 4276 а потом ещё 3800") == [["4276"], ["3800"]]
    assert runs("c: 12 и 34 или 56") == [["12", "34"], ["56"]]


@pytest.mark.parametrize(
    "between",
    [
        "o: Подождите, я не успеваю записать за вами.",  # more than a «да»
        "o: А телефон?",  # a cue: the next number is something else
        "pause: 12",  # a long pause
    ],
)
def test_a_run_ends_when_the_conversation_moves_on(between: str) -> None:
    assert runs("c: 4276 3800", between, "c: 1234") == [["4276", "3800"], ["1234"]]


def test_a_plus_before_a_number_is_kept_with_the_run() -> None:
    streams = speaker_streams(dialogue("c: +7 916 123 45 67, плюс семь 903").segments)
    plus = [run.plus for run in number_runs(streams[0])]
    assert plus == [True, True]


@pytest.mark.parametrize(
    ("said", "groups"),
    [
        # Near-words inside a reading are the digit they are one letter off.
        ("2, 2, 0, 0, восем, 3", ["2", "2", "0", "0", "8", "3"]),
        # Unknown words between digits of a reading are unknown digits...
        ("4, 6, 2, ворсен, 8, 7", ["4", "6", "2", "?", "8", "7"]),
        ("4, 6, 2, ворсен, чупи, 8, 7", ["4", "6", "2", "?", "?", "8", "7"]),
    ],
)
def test_misheard_digits_inside_a_reading(said: str, groups: list[str]) -> None:
    assert runs(f"c: {said}") == [groups]


@pytest.mark.parametrize(
    ("said", "groups"),
    [
        ("с 9 до 18", [["9"], ["18"]]),  # common words are not digits
        ("4, 6, 2, ворсен, чупи, лидит, 8, 7", [["4", "6", "2"], ["8", "7"]]),  # too many
        ("нажмите 5, чтобы продолжить", [["5"]]),  # ...and a reading must go on after them
        ("восем", []),  # near-words only count inside a reading
        ("42 ворсен 76", [["42"], ["76"]]),  # and only among single digits
    ],
)
def test_words_that_stay_words(said: str, groups: list[list[str]]) -> None:
    assert runs(f"c: {said}") == groups


def test_each_speaker_has_runs_of_their_own() -> None:
    lines = ("o: Номер 12345?", "c: 678")
    assert runs(*lines, speaker=Speaker.OPERATOR) == [["12345"]]
    assert runs(*lines) == [["678"]]
