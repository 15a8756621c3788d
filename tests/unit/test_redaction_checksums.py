"""Check digits of cards, SNILS and INN (redaction/checksums)."""

from __future__ import annotations

import pytest

from callscribe.redaction import checksums


@pytest.mark.parametrize(
    "number", ["4276380012345679", "2200123456789019", "378282246310005", "4111111111111111"]
)
def test_luhn_accepts_card_numbers(number: str) -> None:
    assert checksums.luhn(number)


@pytest.mark.parametrize("number", ["4276380012345678", "1234567812345678", "42763800123456?9"])
def test_luhn_refuses_a_changed_digit_or_an_unknown_one(number: str) -> None:
    assert not checksums.luhn(number)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11223344595", True),
        ("08765430300", True),  # the sum is 202, a multiple of 101: 00
        ("11223344594", False),
        ("00100199800", False),
    ],
)
def test_snils_checksum(number: str, valid: bool) -> None:
    assert checksums.snils(number) is valid


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("7707083893", True),  # Sberbank
        ("7707083894", False),
        ("771234567859", True),
        ("771234567850", False),
        ("77123456785", False),  # eleven digits are no INN
    ],
)
def test_inn_check_digits(number: str, valid: bool) -> None:
    assert checksums.inn(number) is valid
