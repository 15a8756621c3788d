"""Build the redaction test set: ``tests/data/redaction/cases.jsonl``.

Three origins, all labelled with character spans (``callscribe/redaction/measure.py``):

- ``generated``: short exchanges written the way Whisper writes Russian calls, from a
  fixed seed: a card, CVC, passport, SNILS, INN, phone number or e-mail address read out in
  digits, in words, in both, split by commas, fillers and the other speaker's «да» across
  segments, with and without a cue; and look-alikes that must stay (order numbers,
  amounts, dates, times, extension numbers, counts, the caller's own number...);
- ``samples``: what the model heard on the three shared sample calls
  (``samples-heard.json``), with such exchanges inserted between their turns, whose
  own menu digits («нажмите 5») count as look-alikes;
- ``audio``: numbers read out by a real voice and transcribed by the model
  (``audio-heard.jsonl``, made by ``redaction_audio.py``).

    .venv/bin/python benchmarks/redaction_cases.py [--seed 23] [--out FILE]

The same seed writes the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _redaction_speech as speech

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data" / "redaction"
SAMPLES_HEARD = DATA / "samples-heard.json"
AUDIO_HEARD = DATA / "audio-heard.jsonl"
OPERATOR, CLIENT = "operator", "client"
_NUMBER = re.compile(
    r"\d+|\b(?:" + "|".join(speech.WORDS.values()) + r"|десять|двадцать|тридцать|сорок|сто)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class V:
    """A labelled part of a line: a value to hide, or a look-alike that must stay."""

    kind: str
    text: str
    key: str | None = None  # parts with the same key are one value (read over segments)
    lookalike: bool = False


def look(kind: str, text: str) -> V:
    return V(kind, text, lookalike=True)


@dataclass
class Call:
    rng: random.Random
    segments: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: float = 0.3
    client_number: str | None = None

    def say(self, speaker: str, *parts: str | V) -> None:
        text, index = "", len(self.segments)
        for part in parts:
            if isinstance(part, V):
                key = part.key or f"k{len(self.labels)}"
                label = self.labels.setdefault(
                    key, {"kind": part.kind, "lookalike": part.lookalike, "pieces": []}
                )
                label["pieces"].append([index, len(text), len(text) + len(part.text)])
                text += part.text
            else:
                text += part
        start = self.clock + self.rng.uniform(0.3, 1.2)
        end = start + 0.6 + 0.055 * len(text)
        self.segments.append(
            {"speaker": speaker, "start": round(start, 2), "end": round(end, 2), "text": text}
        )
        self.clock = end

    def keep(self, segment: dict[str, Any], shift: float) -> None:
        """A segment of a sample call as the model heard it; its numbers are look-alikes."""
        index = len(self.segments)
        for match in _NUMBER.finditer(segment["text"]):
            self.labels[f"k{len(self.labels)}"] = {
                "kind": "menu",
                "lookalike": True,
                "pieces": [[index, match.start(), match.end()]],
            }
        moved = {
            **segment,
            "start": round(segment["start"] + shift, 2),
            "end": round(segment["end"] + shift, 2),
        }
        self.segments.append(moved)
        self.clock = moved["end"]

    def case(self, case_id: str, origin: str, about: str) -> dict[str, Any]:
        def listed(lookalike: bool) -> list[dict[str, Any]]:
            return [
                {"kind": label["kind"], "pieces": label["pieces"]}
                for label in self.labels.values()
                if label["lookalike"] is lookalike
            ]

        return {
            "id": case_id,
            "origin": origin,
            "about": about,
            "duration": round(self.clock + 1.0, 2),
            "client_number": self.client_number,
            "line_number": None,
            "segments": self.segments,
            "values": listed(False),
            "lookalikes": listed(True),
        }


def pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def read_out(
    call: Call, kind: str, groups: list[str], style: str, *, before: str = "", after: str = "."
) -> str:
    """The client reads ``groups`` in one line, or over several with the operator's «да»
    in between; returns how it was read."""
    rng = call.rng
    key = f"v{len(call.labels)}"
    if len(groups) < 3 or rng.random() < 0.65:
        call.say(CLIENT, before, V(kind, speech.written(groups, style, rng), key), after)
        return "in one line"
    cut = sorted(rng.sample(range(1, len(groups)), k=min(len(groups) - 1, rng.choice((1, 2, 3)))))
    chunks = [groups[a:b] for a, b in zip([0, *cut], [*cut, len(groups)], strict=True)]
    for number, chunk in enumerate(chunks):
        first, last = number == 0, number == len(chunks) - 1
        call.say(
            CLIENT,
            before if first else "",
            V(kind, speech.written(chunk, style, rng), key),
            after if last else ",",
        )
        if not last and rng.random() < 0.7:
            call.say(
                OPERATOR, pick(rng, "Да.", "Угу.", "Так.", "Записываю.", "Да, дальше.", "Так, так.")
            )
    return f"over {len(chunks)} segments"


def any_style(rng: random.Random, *, words: bool = True) -> str:
    styles = [*speech.STYLES, "mixed"]
    if not words:
        styles = ["digits", "digits with commas", "pairs heard as tens and units"]
    return rng.choice(styles)


# --- values ---------------------------------------------------------------------------


def card_case(call: Call) -> str:
    rng = call.rng
    number = speech.card(rng)
    sizes = {15: (4, 6, 5), 13: (4, 4, 5)}.get(len(number), (4, 4, 4, 4))
    groups = speech.split(number, sizes)
    style = any_style(rng)
    cued = rng.random() < 0.75
    if cued:
        call.say(
            OPERATOR,
            pick(
                rng,
                "Продиктуйте, пожалуйста, номер карты.",
                "Назовите номер вашей банковской карты.",
                "Номер карты, с которой была оплата?",
                "Какой номер карты указать?",
            ),
        )
    else:
        call.say(OPERATOR, pick(rng, "Слушаю вас.", "Да, говорите.", "Так, диктуйте."))
    before = (
        pick(rng, "", "", "Да, ", "Сейчас. ", "Записывайте: ", "Номер ")
        if cued
        else pick(rng, "", "Так, ", "Значит, ")
    )
    how = read_out(call, "card", groups, style, before=before)
    return f"card of {len(number)} digits, {style}, {how}, {'after' if cued else 'no'} cue"


def cvc_case(call: Call) -> str:
    rng = call.rng
    with_card = rng.random() < 0.5
    if with_card:
        card_case(call)
    code = f"{rng.randint(0, 999):03d}" if rng.random() < 0.9 else f"{rng.randint(0, 9999):04d}"
    style = rng.choice(("digits", "words by digit", "words in threes", "digits with commas"))
    call.say(
        OPERATOR,
        pick(
            rng,
            "И три цифры на обороте карты.",
            "Назовите код CVC с обратной стороны.",
            "Код безопасности, пожалуйста.",
            "И последнее, CVV код.",
            "Три цифры с обратной стороны карты?",
        ),
    )
    call.say(
        CLIENT,
        pick(rng, "", "Да, ", "Сейчас... "),
        V("cvc", speech.written([code], style, rng)),
        ".",
    )
    return f"CVC of {len(code)} digits, {style}{', after a card' if with_card else ''}"


def passport_case(call: Call) -> str:
    rng = call.rng
    number = speech.passport(rng)
    style = rng.choice(("digits", "words in pairs", "mixed", "words by digit", "words in threes"))
    call.say(
        OPERATOR,
        pick(
            rng,
            "Назовите, пожалуйста, серию и номер паспорта.",
            "Продиктуйте паспортные данные.",
            "Мне нужен ваш паспорт: серия и номер.",
        ),
    )
    form = rng.choice(("series then number", "together", "named"))
    if form == "named":
        series = speech.written(speech.split(number[:4], (2, 2)), style, rng, join=" ")
        rest = speech.written(
            [number[4:]], "digits" if style == "digits" else "words in threes", rng
        )
        call.say(
            CLIENT, "Серия ", V("passport", series, "p"), ", номер ", V("passport", rest, "p"), "."
        )
    else:
        groups = speech.split(number, (2, 2, 6) if form == "together" else (4, 6))
        read_out(call, "passport", groups, style, before=pick(rng, "", "Паспорт ", "Так, "))
    return f"passport, {form}, {style}"


def snils_case(call: Call) -> str:
    rng = call.rng
    number = speech.snils(rng)
    cued = rng.random() < 0.7
    style = rng.choice(("digits", "words in threes", "mixed", "words by digit"))
    call.say(
        OPERATOR,
        pick(
            rng,
            "Продиктуйте номер СНИЛС.",
            "Назовите ваш СНИЛС, пожалуйста.",
            "Страховой номер, пожалуйста.",
        )
        if cued
        else pick(rng, "Слушаю.", "Диктуйте."),
    )
    if style == "digits" and rng.random() < 0.5:
        call.say(CLIENT, V("snils", f"{number[:3]}-{number[3:6]}-{number[6:9]} {number[9:]}"), ".")
    else:
        read_out(call, "snils", speech.split(number, (3, 3, 3, 2)), style)
    return f"SNILS, {style}, {'after' if cued else 'no'} cue"


def inn_case(call: Call) -> str:
    rng = call.rng
    length = rng.choice((10, 12, 12))
    number = speech.inn(rng, length)
    cued = length == 10 or rng.random() < 0.8
    style = rng.choice(("digits", "words in pairs", "words in threes", "mixed"))
    call.say(
        OPERATOR,
        pick(rng, "Назовите ваш ИНН.", "ИНН, пожалуйста.", "Продиктуйте ИНН организации.")
        if cued
        else "Диктуйте.",
    )
    read_out(call, "inn", speech.split(number, (4, 4, 4) if length == 12 else (4, 3, 3)), style)
    return f"INN of {length} digits, {style}, {'after' if cued else 'no'} cue"


def phone_digits(rng: random.Random) -> tuple[str, str, list[str]]:
    """(prefix as written, the number, its groups)."""
    national = speech.mobile(rng) if rng.random() < 0.75 else speech.city(rng)
    prefix = rng.choice(
        ("8", "8", "+7", "7", "плюс семь", "") if national[0] == "9" else ("8", "+7", "8")
    )
    return prefix, national, speech.split(national, (3, 3, 2, 2))


def phone_case(call: Call) -> str:
    rng = call.rng
    prefix, national, groups = phone_digits(rng)
    cued = rng.random() < 0.8
    call.say(
        OPERATOR,
        pick(
            rng,
            "Оставьте, пожалуйста, номер телефона для связи.",
            "По какому номеру вам перезвонить?",
            "Продиктуйте контактный телефон.",
        )
        if cued
        else pick(rng, "Слушаю.", "Да?"),
    )
    form = rng.choice(("written", "written", "words", "mixed"))
    if form == "written":
        text = rng.choice(
            (
                f"{prefix} ({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}",
                f"{prefix}{national}",
                f"{prefix} {national[:3]} {national[3:6]} {national[6:8]} {national[8:]}",
                f"{prefix}-{national[:3]}-{national[3:6]}-{national[6:8]}-{national[8:]}",
            )
        ).strip(" -")
        call.say(
            CLIENT, pick(rng, "", "Мой мобильный ", "Запишите: ", "Телефон "), V("phone", text), "."
        )
    else:
        spoken_prefix = {"8": "восемь", "7": "семь", "+7": "плюс семь"}.get(prefix, prefix)
        style = "words in threes" if form == "words" else "mixed"
        rest = speech.written(groups, style, rng)
        call.say(
            CLIENT,
            pick(rng, "", "Записывайте, ", "Мой номер "),
            V("phone", f"{spoken_prefix} {rest}".strip()),
            ".",
        )
    return f"phone, {form}, prefix {prefix or 'none'}, {'after' if cued else 'no'} cue"


NAMES = (
    ("ivan.petrov", "иван точка петров"),
    ("anna_smirnova", "анна нижнее подчеркивание смирнова"),
    ("olga-k", "ольга дефис к"),
    ("sergey.ivanov1990", "сергей точка иванов 1990"),
    ("petrov83", "петров 83"),
)
DOMAINS = (
    ("mail.ru", "мейл точка ру"),
    ("gmail.com", "джимейл точка ком"),
    ("yandex.ru", "яндекс точка ру"),
    ("bk.ru", "бк точка ру"),
    ("inbox.ru", "инбокс точка ру"),
)


def email_case(call: Call) -> str:
    rng = call.rng
    (local, local_said), (domain, domain_said) = rng.choice(NAMES), rng.choice(DOMAINS)
    form = rng.choice(("written", "собака", "dots spoken", "all in Russian"))
    text = {
        "written": f"{local}@{domain}",
        "собака": f"{local} собака {domain}",
        "dots spoken": f"{local.replace('.', ' точка ')} собака {domain.replace('.', ' точка ')}",
        "all in Russian": f"{local_said} собака {domain_said}",
    }[form]
    call.say(
        OPERATOR,
        pick(
            rng,
            "Куда прислать чек? Назовите почту.",
            "Ваш e-mail, пожалуйста.",
            "Электронная почта для связи?",
        ),
    )
    call.say(CLIENT, pick(rng, "", "Пишите: ", "Моя почта "), V("email", text), ".")
    return f"e-mail, {form}"


# --- look-alikes ----------------------------------------------------------------------


def _order(rng: random.Random) -> str:
    number = str(rng.randint(10**5, 10 ** rng.randint(6, 10) - 1))
    return speech.written(
        speech.split(number, (3, 3, 4)),
        rng.choice(("digits", "words in threes", "mixed")),
        rng,
        join=" ",
    )


def _amount(rng: random.Random) -> str:
    value = rng.choice(
        (
            rng.randint(1, 99) * 100,
            rng.randint(1, 500) * 1000 + rng.randint(0, 9) * 100,
            rng.randint(100, 9999),
        )
    )
    if rng.random() < 0.5:
        return speech.spoken(value)
    return f"{value:,}".replace(",", " ")


LOOKALIKES: tuple[tuple[str, str, str, Callable[[random.Random], str], str], ...] = (
    ("order", OPERATOR, "Номер вашего заказа ", _order, "."),
    ("order", CLIENT, "У меня заказ номер ", _order, ", он не пришёл."),
    ("order", CLIENT, "Номер договора ", _order, "."),
    ("amount", OPERATOR, "С вас ", _amount, " рублей."),
    ("amount", CLIENT, "Я заплатил ", _amount, " рублей, а списали больше."),
    ("amount", OPERATOR, "Сумма к оплате ", _amount, " руб."),
    (
        "date",
        OPERATOR,
        "Доставка ",
        lambda r: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.2024",
        ".",
    ),
    (
        "date",
        CLIENT,
        "Заказывал ",
        lambda r: f"{r.randint(1, 28)} марта {r.choice(('2023', '2024'))}",
        " года.",
    ),
    ("date", CLIENT, "Оплатил до ", lambda r: f"{r.randint(1, 28)}-го", " числа."),
    (
        "date",
        OPERATOR,
        "Срок до ",
        lambda r: speech.spoken(r.randint(1, 28)) + " " + r.choice(("мая", "июня", "января")),
        ".",
    ),
    (
        "time",
        OPERATOR,
        "Курьер приедет в ",
        lambda r: f"{r.randint(9, 20)}:{r.choice(('00', '15', '30', '45'))}",
        ".",
    ),
    (
        "time",
        CLIENT,
        "Удобно в ",
        lambda r: (
            speech.spoken(r.randint(9, 20))
            + " "
            + r.choice(("тридцать", "ноль ноль", "пятнадцать"))
        ),
        ".",
    ),
    (
        "time",
        OPERATOR,
        "Мы работаем с ",
        lambda r: f"{r.randint(8, 10)} до {r.randint(17, 21)}",
        " часов.",
    ),
    ("extension", OPERATOR, "Соединяю с добавочным ", lambda r: str(r.randint(100, 9999)), "."),
    (
        "extension",
        CLIENT,
        "Мне дали внутренний номер ",
        lambda r: speech.spoken(r.randint(100, 999)),
        ".",
    ),
    (
        "count",
        CLIENT,
        "У меня ",
        lambda r: r.choice(("3", "две", "2", "три")),
        " карты этого банка.",
    ),
    ("count", CLIENT, "Я звонил уже ", lambda r: r.choice(("5", "пять", "четыре", "10")), " раз."),
    ("count", OPERATOR, "Подождите ", lambda r: r.choice(("2", "две", "пять", "3")), " минуты."),
    (
        "card tail",
        CLIENT,
        "Карта заканчивается на ",
        lambda r: speech.written(
            [f"{r.randint(0, 9999):04d}"], r.choice(("digits", "words by digit")), r
        ),
        ".",
    ),
    ("postcode", CLIENT, "Индекс ", lambda r: str(r.randint(100000, 699999)), "."),
    ("account", OPERATOR, "Ваш лицевой счёт ", lambda r: str(r.randint(10**9, 10**10 - 1)), "."),
    (
        "tracking",
        OPERATOR,
        "Трек-номер посылки ",
        lambda r: "8" + str(r.randint(10**12, 10**13 - 1)),
        ".",
    ),
    ("year", CLIENT, "Я клиент с ", lambda r: str(r.randint(2005, 2024)), " года."),
    ("menu", OPERATOR, "Для оценки нажмите ", lambda r: r.choice(("1", "5", "один", "два")), "."),
    ("sms code", OPERATOR, "Назовите код из СМС, ", lambda r: f"{r.randint(0, 999999):06d}", "?"),
)


def lookalike_case(call: Call) -> str:
    rng = call.rng
    picked = rng.sample(LOOKALIKES, k=rng.choice((1, 2, 2, 3)))
    for kind, speaker, before, make, after in picked:
        call.say(speaker, before, look(kind, make(rng)), after)
    return "look-alikes: " + ", ".join(p[0] for p in picked)


def own_number_case(call: Call) -> str:
    rng = call.rng
    _, national, groups = phone_digits(rng)
    call.client_number = "+7" + national
    call.say(OPERATOR, "Вы звоните с номера, который у нас записан?")
    call.say(
        CLIENT,
        "Да, ",
        look(
            "own number",
            "8 " + speech.written(groups, rng.choice(("digits", "words in threes")), rng),
        ),
        ", это мой.",
    )
    return "the caller's own number"


def mixed_case(call: Call) -> str:
    rng = call.rng
    lookalike_case(call)
    parts = [rng.choice((card_case, phone_case, passport_case, snils_case))(call)]
    lookalike_case(call)
    return "mixed: " + "; ".join(parts)


TEMPLATES: tuple[tuple[str, Callable[[Call], str], int], ...] = (
    ("card", card_case, 90),
    ("cvc", cvc_case, 30),
    ("passport", passport_case, 30),
    ("snils", snils_case, 30),
    ("inn", inn_case, 25),
    ("phone", phone_case, 60),
    ("email", email_case, 25),
    ("lookalike", lookalike_case, 110),
    ("own", own_number_case, 15),
    ("mixed", mixed_case, 25),
)
SAMPLE_TEMPLATES = (card_case, cvc_case, passport_case, snils_case, phone_case, lookalike_case)
SAMPLE_INSERTS = 15  # per sample call


def generated(rng: random.Random) -> list[dict[str, Any]]:
    cases = []
    for name, template, count in TEMPLATES:
        for number in range(count):
            call = Call(rng)
            about = template(call)
            cases.append(call.case(f"gen-{name}-{number:03d}", "generated", about))
    return cases


def from_samples(rng: random.Random) -> list[dict[str, Any]]:
    heard: dict[str, list[dict[str, Any]]] = json.loads(SAMPLES_HEARD.read_text("utf-8"))
    cases = []
    for name, segments in sorted(heard.items()):
        for number in range(SAMPLE_INSERTS):
            at = rng.randint(1, len(segments) - 1)
            call = Call(rng)
            for segment in segments[:at]:
                call.keep(segment, 0.0)
            about = rng.choice(SAMPLE_TEMPLATES)(call)
            shift = call.clock + 0.8 - segments[at]["start"]
            for segment in segments[at:]:
                call.keep(segment, max(0.0, shift))
            cases.append(call.case(f"sample-{name}-{number:02d}", "samples", f"{name}: {about}"))
    return cases


HARD_CASES = DATA / "hard-cases.txt"
_MARKUP = re.compile(
    r"\[\[(?P<value>[^|\]]+)\|(?P<said>[^\]]+)\]\]|\(\((?P<look>[^|)]+)\|(?P<seen>[^)]+)\)\)"
)


def hard_cases(rng: random.Random) -> list[dict[str, Any]]:
    """The hand-written dialogues of ``hard-cases.txt``; each [[kind|text]] line over
    several segments of one block is one value per segment (a value's pieces are not
    joined across lines there: each is scored on its own)."""
    blocks = [b for b in HARD_CASES.read_text("utf-8").split("\n\n") if b.strip()]
    cases = []
    for number, block in enumerate(blocks):
        call = Call(rng)
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines:
            continue
        for line in lines:
            who, _, text = line.partition(":")
            parts: list[str | V] = []
            position = 0
            for match in _MARKUP.finditer(text.strip()):
                parts.append(text.strip()[position : match.start()])
                if match["value"]:
                    parts.append(
                        V(match["value"], match["said"], key=f"v{number}-{match['value']}")
                    )
                else:
                    parts.append(look(match["look"], match["seen"]))
                position = match.end()
            parts.append(text.strip()[position:])
            call.say(OPERATOR if who.strip() == "o" else CLIENT, *parts)
        cases.append(call.case(f"hard-{number:02d}", "hard", lines[0][:60]))
    return cases


def from_audio() -> list[dict[str, Any]]:
    if not AUDIO_HEARD.exists():
        return []
    return [json.loads(line) for line in AUDIO_HEARD.read_text("utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--out", type=Path, default=DATA / "cases.jsonl")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - test data, not secrets
    cases = generated(rng) + from_samples(rng) + hard_cases(rng) + from_audio()
    with args.out.open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
