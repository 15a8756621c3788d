"""Phone numbers masked, ordinary numbers kept, one record per line (callscribe.logmask)."""

from __future__ import annotations

import itertools
import logging
import random
import re
import sys

import pytest

from callscribe.logmask import LogSanitizer, escape_control, mask_phone, sanitize

# Subscriber numbers as (area/mobile code, rest) so every grouping can be generated.
NUMBERS = [("999", "1234567"), ("495", "0001122"), ("8452", "123456"), ("84593", "12345")]
PREFIXES = ["+7", "+7 ", "8", "8 ", "7", "+7-", "8-", "+7\u00a0", "8\u00a0"]
CONTEXTS = [
    "{}",
    "звонок от {}, оператор 007",
    "client={};",
    "tel:{}",
    "[{}]",
    "номер {}.",
    "rec/{}_call.wav",
]


def _groupings(code: str, rest: str) -> list[str]:
    """The ways Russians write the local part: with or without brackets and separators."""
    if len(rest) == 7:
        splits = [(rest,), (rest[:3], rest[3:]), (rest[:3], rest[3:5], rest[5:])]
    elif len(rest) == 6:
        splits = [(rest,), (rest[:2], rest[2:4], rest[4:])]
    else:
        splits = [(rest,), (rest[:1], rest[1:3], rest[3:])]
    out = []
    for parts in splits:
        for sep in ("-", " ", ""):
            local = sep.join(parts)
            out += [f"({code}) {local}", f"({code}){local}", f"{code} {local}"]
            out += [f"{code}-{local}", f"{code}{local}"]
    return out


def generated_numbers() -> list[str]:
    numbers = []
    for code, rest in NUMBERS:
        for prefix, local in itertools.product(PREFIXES, _groupings(code, rest)):
            numbers.append(prefix + local)
        numbers.append(code + rest)  # ten digits, no trunk prefix
        numbers.append(f"({code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}")
    numbers += ["+7 (999) 123–45–67", "8\u202f999\u202f123\u202f45\u202f67", "+7(999)123-45-67"]
    numbers += ["8 800 555 35 35", "8-800-555-35-35", "88005553535", "+78005553535"]
    return numbers


def test_every_generated_format_keeps_only_the_last_four_digits() -> None:
    numbers = generated_numbers()
    assert len(numbers) >= 200
    rng = random.Random(7)
    missed = []
    for number in numbers:
        context = rng.choice(CONTEXTS)
        text = context.format(number)
        # Whatever digits the context has (operator 007) stay; of the number, four.
        expected = re.sub(r"\D", "", context.format(re.sub(r"\D", "", number)[-4:]))
        masked = mask_phone(text)
        if re.sub(r"\D", "", masked) != expected:
            missed.append((text, masked))
    assert not missed, f"{len(missed)} of {len(numbers)} not masked: {missed[:5]}"


def test_the_format_stays_readable() -> None:
    assert mask_phone("+7 (999) 123-45-67") == "+* (***) ***-45-67"
    assert mask_phone("89991234567") == "*******4567"
    assert mask_phone("позвонил 8 800 555-35-35, ждал") == "позвонил * *** ***-35-35, ждал"
    assert mask_phone("+380 44 123 4567") == "+*** ** *** 4567"


def test_two_numbers_side_by_side_are_both_masked() -> None:
    masked = mask_phone("+7 999 123-45-67 8 800 555 35 35")
    assert masked == "+* *** ***-45-67 * *** *** 35 35"


@pytest.mark.parametrize(
    "text",
    [
        "call 1718000000.42 ended",
        "pbx-1718000000.42",
        "took 12.5 s, audio 00:03:12",
        "2026-11-21T10:00:00+03:00",
        "2026-11-21 10:00:00",
        "client 192.168.100.200 port 8680",
        "ms 1718000000123",
        "job 123456 attempt 3 of 8",
        "size 1048576 bytes",
        "uuid 3f2b8c1e-9d4a-4e0b-8f6a-2c1d9e7b5a30",
        "HTTP/1.1 413",
        "extension 101",
        "ip 78.129.100.200",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert mask_phone(text) == text


def test_control_characters_are_escaped() -> None:
    assert escape_control("a\r\nFAKE ENTRY") == "a\\r\\nFAKE ENTRY"
    assert escape_control("\x1b[31mred\x00\u2028") == "\\x1b[31mred\\x00\\u2028"
    assert escape_control("Иван\tПетров") == "Иван\\tПетров"
    assert escape_control("line\nnext", keep_newlines=True) == "line\nnext"


def test_sanitize_bounds_the_length() -> None:
    out = sanitize("x" * 10_000, limit=100)
    assert out.startswith("x" * 100)
    assert "9900 more characters" in out


def _record(level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", level, __file__, 1, msg, args, None)


def test_filter_masks_message_and_arguments() -> None:
    record = _record(logging.INFO, "call from %s: %s", "+79991234567", "a\r\nFAKE")
    assert LogSanitizer().filter(record)
    assert record.getMessage() == "call from +*******4567: a\\r\\nFAKE"


def test_filter_leaves_debug_records_alone_by_default() -> None:
    record = _record(logging.DEBUG, "call from %s", "+79991234567")
    LogSanitizer().filter(record)
    assert record.getMessage() == "call from +79991234567"
    record = _record(logging.DEBUG, "call from %s", "+79991234567")
    LogSanitizer(min_level=logging.DEBUG).filter(record)
    assert "+79991234567" not in record.getMessage()


def test_filter_survives_a_bad_format_string() -> None:
    record = _record(logging.ERROR, "value %d", "+79991234567")
    assert LogSanitizer().filter(record)
    assert "+79991234567" not in record.getMessage()


def test_filter_masks_tracebacks_and_keeps_messages_on_one_line() -> None:
    try:
        raise ValueError("bad number +7 999 123-45-67\r\nFAKE ENTRY")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()
    LogSanitizer().filter(record)
    text = logging.Formatter().format(record)
    assert "123-45" not in text
    assert "+* *** ***-45-67\\r\\nFAKE ENTRY" in text
    assert not any(line.startswith("FAKE") for line in text.splitlines())
    assert "Traceback (most recent call last):\n" in text
