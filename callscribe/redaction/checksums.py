"""Check digits of the numbers callscribe hides: a random number of the right length
passes one of these about once in ten (Luhn, INN-10) or a hundred (SNILS, INN-12)."""

from __future__ import annotations


def luhn(digits: str) -> bool:
    """Payment card numbers (ISO/IEC 7812)."""
    if not digits.isdigit():  # a misheard digit ("?") passes no check
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def snils(digits: str) -> bool:
    """SNILS: nine digits weighted 9..1, the sum modulo 101 (100 counts as 00)."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(9, 0, -1), strict=True))
    return total % 101 % 100 == int(digits[9:])


_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn(digits: str) -> bool:
    """INN of an organisation (10 digits) or a person (12 digits)."""
    if not digits.isdigit():
        return False
    if len(digits) == 10:
        return _inn_digit(digits, _INN10) == int(digits[9])
    if len(digits) == 12:
        return _inn_digit(digits, _INN11) == int(digits[10]) and _inn_digit(digits, _INN12) == int(
            digits[11]
        )
    return False
