"""Numbers as a Russian caller says them and Whisper writes them, for the redaction test
set: the values (valid card, SNILS, INN numbers...) and the ways of writing them."""

from __future__ import annotations

import random
from collections.abc import Callable

from num2words import num2words

from callscribe.redaction import checksums

WORDS = {
    "0": "ноль", "1": "один", "2": "два", "3": "три", "4": "четыре", "5": "пять",
    "6": "шесть", "7": "семь", "8": "восемь", "9": "девять",
}  # fmt: skip


def spoken(number: int) -> str:
    return str(num2words(number, lang="ru"))


# --- values ---------------------------------------------------------------------------


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if checksums.luhn(body + d))


CARD_PREFIXES = {
    16: ("2200", "2202", "2204", "4276", "4279", "4817", "5469", "5536", "5106", "6762"),
    13: ("4",),
    15: ("34", "37"),
    18: ("2200", "6762"),
    19: ("2200", "2204", "6390"),
}


def card(rng: random.Random) -> str:
    length = rng.choices((16, 13, 15, 18, 19), weights=(80, 3, 7, 4, 6))[0]
    prefix = rng.choice(CARD_PREFIXES[length])
    return luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def snils(rng: random.Random) -> str:
    body = str(rng.randint(2_000_000, 999_999_999)).zfill(9)
    total = sum(int(d) * w for d, w in zip(body, range(9, 0, -1), strict=True))
    return body + f"{total % 101 % 100:02d}"


def inn(rng: random.Random, length: int) -> str:
    while True:
        candidate = _digits(rng, length)
        if candidate[0] != "0" and checksums.inn(candidate):
            return candidate


def passport(rng: random.Random) -> str:
    region = rng.choice(("45", "46", "40", "65", "03", "77", "50", "60"))
    return region + f"{rng.randint(0, 24):02d}" + _digits(rng, 6)


def mobile(rng: random.Random) -> str:
    """Ten digits: a Russian mobile number without the trunk prefix."""
    return "9" + rng.choice(("16", "03", "26", "85", "99", "51", "10", "77")) + _digits(rng, 7)


def city(rng: random.Random) -> str:
    return rng.choice(("495", "499", "812", "343", "383", "846")) + _digits(rng, 7)


# --- how they are written -------------------------------------------------------------


def split(digits: str, sizes: tuple[int, ...]) -> list[str]:
    groups, position = [], 0
    for size in sizes:
        groups.append(digits[position : position + size])
        position += size
    if position < len(digits):
        groups.append(digits[position:])
    return [g for g in groups if g]


def by_digit(group: str) -> str:
    return " ".join(WORDS[d] for d in group)


def pairs_of(group: str) -> list[str]:
    """«4276» → 42, 76; an odd group starts with its lone digit: «304» → 3, 04."""
    head = [group[0]] if len(group) % 2 else []
    return head + [group[i : i + 2] for i in range(len(head), len(group), 2)]


def by_pairs(group: str) -> str:
    """«42» → «сорок два»; «07» → «ноль семь»."""
    return " ".join(
        by_digit(pair) if len(pair) == 1 or pair[0] == "0" else spoken(int(pair))
        for pair in pairs_of(group)
    )


def pairs_heard(group: str) -> str:
    """Pairs said as numbers, as Whisper writes them: digits, the first pair that can be
    split written as its tens and its unit («тридцать... восемь» → «30, 8»)."""
    written, done = [], False
    for pair in pairs_of(group):
        if not done and len(pair) == 2 and pair[0] not in "01" and pair[1] != "0":
            written.append(f"{pair[0]}0, {pair[1]}")
            done = True
        else:
            written.append(pair)
    return ", ".join(written)


def by_triads(group: str) -> str:
    """Three digits as one number («123» → «сто двадцать три»); other lengths in pairs, as
    nobody reads four digits as «двести двадцать, два»."""
    if len(group) % 3:
        return by_pairs(group)
    words = []
    for i in range(0, len(group), 3):
        part = group[i : i + 3]
        words.append(
            by_digit(part[0]) + " " + by_pairs(part[1:]) if part[0] == "0" else spoken(int(part))
        )
    return " ".join(words)


def whole(group: str) -> str:
    """The group as one number: «2202» → «две тысячи двести два»."""
    return by_pairs(group) if group[0] == "0" else spoken(int(group))


def comma_digits(group: str) -> str:
    return ", ".join(group)


STYLES: dict[str, Callable[[str], str]] = {
    "digits": lambda g: g,
    "words by digit": by_digit,
    "words in pairs": by_pairs,
    "words in threes": by_triads,
    "whole numbers": whole,
    "digits with commas": comma_digits,
    "pairs heard as tens and units": pairs_heard,
}

JOINS = (" ", " ", ", ", ". ", " - ", "... ", ", так, ", " э ", ", дальше ")


def written(groups: list[str], style: str, rng: random.Random, *, join: str | None = None) -> str:
    """The groups in one style (``mixed``: each group digits or words at random)."""
    parts = []
    for group in groups:
        name = (
            rng.choice(("digits", "words by digit", "words in pairs"))
            if style == "mixed"
            else style
        )
        parts.append(STYLES[name](group))
    if join is None:
        join = rng.choice(JOINS) if style != "digits" else rng.choice((" ", " ", "-", ", "))
    return join.join(parts)
