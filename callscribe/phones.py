"""One phone number, however it was written: ``+7 (999) 123-45-67``, ``89991234567``,
``7-999-123-45-67`` and ``9991234567`` are the same Russian number; ``+380 44 …`` is
compared digit for digit.  Used wherever callscribe looks for a person's number in what
it stores (``calls list --number``, ``purge --phone``); what counts as written digits of a
phone number is :data:`callscribe.logmask.PHONE`, the pattern logs are masked with.
"""

from __future__ import annotations

import re

from callscribe.logmask import PHONE

_NON_DIGITS = re.compile(r"\D")


def phone_key(text: str) -> str | None:
    """The number's digits as compared: a Russian number's ten national digits (+7, 8 or
    7 in front dropped), any other number's full digits; None when ``text`` is not a phone
    number (fewer than ten digits, or more than fifteen)."""
    digits = _NON_DIGITS.sub("", text)
    if len(digits) == 11 and digits[0] in "78":
        return digits[1:]
    if 10 <= len(digits) <= 15:
        return digits
    return None


def keys_in(text: str) -> set[str]:
    """The keys of every phone number written in ``text`` (a JSON document, a transcript)."""
    return {key for match in PHONE.finditer(text) if (key := phone_key(match.group()))}


def holds(text: str | None, key: str) -> bool:
    """Whether ``text`` writes the number whose :func:`phone_key` is ``key``."""
    return bool(text) and key in keys_in(text or "")
