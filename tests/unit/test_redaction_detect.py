"""Each kind found where it was said, and left alone where a look-alike was (redaction)."""

from __future__ import annotations

import pytest

from callscribe.config.redaction import RedactionSettings
from callscribe.domain import CallEvent
from callscribe.redaction import find
from tests.dialogue import dialogue

POLICY = RedactionSettings(enabled=True).settings_for(None)


def hidden(*lines: str, client_number: str | None = None) -> list[tuple[str, str]]:
    """(kind, the text it covers) of every value found."""
    transcript = dialogue(*lines)
    event = CallEvent("test", "1", client_number=client_number)
    return [
        (
            value.kind,
            " | ".join(transcript.segments[p.segment].text[p.start : p.end] for p in value.pieces),
        )
        for value in find(transcript, POLICY, event)
    ]


CARDS = [
    ("c: Номер карты 4276 3800 1234 5679.", "4276 3800 1234 5679"),
    ("c: 4276-3800-1234-5679", "4276-3800-1234-5679"),  # no cue: Luhn and a card's first digit
    (
        "c: четыре два семь шесть, три восемь ноль ноль, один два три четыре, пять шесть семь "
        "девять",
        "четыре два семь шесть, три восемь ноль ноль, один два три четыре, пять шесть семь девять",
    ),
    (
        "c: сорок два семьдесят шесть тридцать восемь ноль ноль двенадцать тридцать четыре "
        "пятьдесят шесть семьдесят девять",
        "сорок два семьдесят шесть тридцать восемь ноль ноль двенадцать тридцать четыре "
        "пятьдесят шесть семьдесят девять",
    ),
    (
        "c: 42 76 тридцать восемь 00 1234 пять шесть семь девять",
        "42 76 тридцать восемь 00 1234 пять шесть семь девять",
    ),
    (
        "o: Продиктуйте номер карты.\nc: 4276 3800 1234 5678",
        "4276 3800 1234 5678",
    ),  # misheard digit
    (
        "o: Номер карты?\nc: 2, 2, 0, 0, восем, ворсен, 8, 0, 1, 2, 3, 4, 5, 6, 7, 9",
        "2, 2, 0, 0, восем, ворсен, 8, 0, 1, 2, 3, 4, 5, 6, 7, 9",
    ),
    ("c: 378282246310005", "378282246310005"),  # American Express, 15 digits
]


@pytest.mark.parametrize(("said", "number"), CARDS)
def test_card_numbers(said: str, number: str) -> None:
    assert hidden(*said.split("\n")) == [("card", number)]


def test_a_card_read_over_segments_with_the_operators_yes_between() -> None:
    found = hidden("o: Диктуйте.", "c: 4276,", "o: Да.", "c: 3800,", "o: Так.", "c: 1234 5679.")
    assert found == [("card", "4276 | 3800 | 1234 5679")]


@pytest.mark.parametrize(
    "said",
    [
        "o: Номер вашего заказа 4276 3800 1234 5678.",  # a card's shape, said to be an order
        "c: Лицевой счёт 40817810099910004312.",
        "o: Трек-номер 80085412345678.",
        "c: IMEI 356938035643809.",  # passes Luhn, as every IMEI does
        "c: Карта заканчивается на 5679.",
        "o: С вас двенадцать тысяч пятьсот рублей.",
        "c: 1234 5678 1234 5678",  # no cue, a first digit no card has
    ],
)
def test_no_card_number(said: str) -> None:
    assert hidden(said) == []


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (("o: И три цифры на обороте карты.", "c: 123."), "123"),
        (("o: Назовите код CVC.", "c: сто двадцать три"), "сто двадцать три"),
        (("o: Код безопасности?", "c: один, два, три"), "один, два, три"),
        (("o: Четыре цифры на обороте, над номером.", "c: 1234"), "1234"),
    ],
)
def test_security_codes(lines: tuple[str, ...], code: str) -> None:
    assert hidden(*lines) == [("cvc", code)]


def test_a_security_code_read_on_after_the_card() -> None:
    assert hidden("c: 4276 3800 1234 5679 123") == [("card", "4276 3800 1234 5679"), ("cvc", "123")]


@pytest.mark.parametrize(
    "lines",
    [
        ("o: Соединяю с добавочным 123.",),
        ("o: Назовите код CVC.", "c: Секунду. Номер заказа 123."),  # the nearer cue wins
        ("c: Нажмите 123.",),
        ("o: Назовите код из СМС.", "c: 4815."),
    ],
)
def test_no_security_code(lines: tuple[str, ...]) -> None:
    assert hidden(*lines) == []


@pytest.mark.parametrize(
    ("lines", "pieces"),
    [
        (("o: Серия и номер паспорта?", "c: 4503 712345"), "4503 712345"),
        (("c: Паспорт: серия 45 03, номер 712345.",), "45 03, номер 712345"),
        (
            (
                "o: Паспорт, пожалуйста.",
                "c: сорок пять ноль три, номер семьсот двенадцать триста сорок пять",
            ),
            "сорок пять ноль три, номер семьсот двенадцать триста сорок пять",
        ),
        (("o: Серия и номер паспорта?", "c: 45 03", "o: Да.", "c: 712345"), "45 03 | 712345"),
    ],
)
def test_passports(lines: tuple[str, ...], pieces: str) -> None:
    assert hidden(*lines) == [("passport", pieces)]


@pytest.mark.parametrize(
    "lines",
    [
        (
            "o: Назовите серию и номер паспорта.",
            "c: Его с собой нет, я пришлю фотографию на почту, хорошо? А курьер когда "
            "приедет, во сколько?",
            "o: Курьер приедет в четырнадцать тридцать.",
        ),
        ("c: Номер заказа 4503712345.",),
        ("o: Паспорт не нужен.", "o: Ваш лицевой счёт 4503712345."),
        ("c: 4503 712345",),  # ten digits without a cue are no passport
    ],
)
def test_no_passport(lines: tuple[str, ...]) -> None:
    assert hidden(*lines) == []


@pytest.mark.parametrize(
    ("lines", "number"),
    [
        (("c: 112-233-445 95",), "112-233-445 95"),  # the checksum is enough
        (("o: Продиктуйте СНИЛС.", "c: 112 233 445 96"), "112 233 445 96"),  # a cue is too
        (
            (
                "o: Страховой номер?",
                "c: сто двенадцать двести тридцать три четыреста сорок пять девяносто пять",
            ),
            "сто двенадцать двести тридцать три четыреста сорок пять девяносто пять",
        ),
    ],
)
def test_snils(lines: tuple[str, ...], number: str) -> None:
    assert hidden(*lines) == [("snils", number)]


def test_no_snils_without_its_checksum_or_cue() -> None:
    assert hidden("c: 112-233-445 96") == []
    assert hidden("o: Номер договора", "c: 112 233 445 95") == []


@pytest.mark.parametrize(
    ("lines", "number"),
    [
        (("c: Мой ИНН 7707083893.",), "7707083893"),
        (("c: 771234567859",), "771234567859"),  # twelve digits: its two check digits do
        (
            ("o: ИНН?", "c: семь семь ноль семь ноль восемь три восемь девять три"),
            "семь семь ноль семь ноль восемь три восемь девять три",
        ),
    ],
)
def test_inn(lines: tuple[str, ...], number: str) -> None:
    assert hidden(*lines) == [("inn", number)]


def test_no_inn_without_a_cue_for_ten_digits() -> None:
    assert hidden("c: 7707083893") == []  # a valid INN-10, but one in eleven numbers is


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("c: Мой номер +7 916 123-45-67.", "+7 916 123-45-67"),
        ("c: 8 (916) 123-45-67", "8 (916) 123-45-67"),
        ("c: 89161234567", "89161234567"),
        ("c: 9161234567", "9161234567"),
        (
            "c: восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь",
            "восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь",
        ),
        ("c: плюс семь 916 123 45 67", "плюс семь 916 123 45 67"),
        ("c: +44 20 7946 0958", "+44 20 7946 0958"),
        ("c: Перезвоните на домашний телефон 495 123-45-67", "495 123-45-67"),
        ("c: Телефон 123-45-67", "123-45-67"),
        ("o: Позвоните по номеру 8 800 555 35 35.", "8 800 555 35 35"),
    ],
)
def test_phone_numbers(said: str, number: str) -> None:
    assert hidden(said) == [("phone", number)]


def test_the_calls_own_number_stays() -> None:
    said = "c: Да, 8 916 123-45-67, это мой, а рабочий 8 903 777-12-34."
    assert hidden(said, client_number="+79161234567") == [("phone", "8 903 777-12-34")]


@pytest.mark.parametrize(
    "said",
    [
        "o: Соединяю с добавочным 1234.",
        "c: Номер заказа 89161234567.",
        "c: Индекс 123456.",
        "o: Мы работаем с 9 до 18.",
        "c: Заказывал 15.03.2024 в 14:30.",
    ],
)
def test_no_phone_number(said: str) -> None:
    assert hidden(said) == []


@pytest.mark.parametrize(
    ("said", "address"),
    [
        ("c: Почта ivan.petrov@mail.ru, пишите.", "ivan.petrov@mail.ru"),
        ("c: ivan.petrov собака mail.ru", "ivan.petrov собака mail.ru"),
        ("c: иван точка петров собака мейл точка ру", "иван точка петров собака мейл точка ру"),
        (
            "c: Моя почта анна нижнее подчеркивание смирнова собака бк точка ру.",
            "анна нижнее подчеркивание смирнова собака бк точка ру",
        ),
        ("c: petrov 1990 собака gmail точка com", "petrov 1990 собака gmail точка com"),
    ],
)
def test_email_addresses(said: str, address: str) -> None:
    assert hidden(said) == [("email", address)]


@pytest.mark.parametrize(
    "said",
    ["c: Собака лает у соседей.", "c: Напишите на почту собака", "c: Я живу в доме собака точка"],
)
def test_no_email_address(said: str) -> None:
    assert hidden(said) == []


def test_any_long_number_when_asked_for() -> None:
    settings = RedactionSettings.model_validate(
        {"enabled": True, "kinds": {"number": True}, "number_digits": 8}
    )
    transcript = dialogue("c: Заказ 45871236, мой 8 903 777-12-34, телефон 8 916 123-45-67.")
    event = CallEvent("test", "1", client_number="89037771234")
    found = find(transcript, settings.settings_for(None), event)
    text = transcript.segments[0].text
    assert [(v.kind, text[v.pieces[0].start : v.pieces[0].end]) for v in found] == [
        ("number", "45871236"),  # an order number: hidden too, that is the price
        ("phone", "8 916 123-45-67"),
    ]  # the call's own number stays
