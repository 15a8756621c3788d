"""Inputs a hostile or broken sender could produce, shared by the fuzz tests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Text a sender controls: any code point, surrogates included (JSON's "\ud800" escapes
# make them), control characters, Cyrillic, and the characters parsers split on.
HOSTILE_TEXT = st.text(
    st.characters(codec=None) | st.sampled_from(list(':,{}[]"\\|%\r\n\x00\u2028йЯ+7 ')),
    max_size=60,
)
# What can arrive in a header, a query string or a form: text that is valid UTF-8.
WIRE_TEXT = st.text(
    st.characters(codec="utf-8") | st.sampled_from(list(':,{}[]"\\|%&=+\r\n\x00йЯ7 ')),
    max_size=60,
)
NUMBERS = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 2**31, 2**63, 10**20, 1e300, -1e300, 1e-300, 0.5])
)
# Values the vendors' lenient readers turn into times, numbers and flags.
TIMELIKE = st.sampled_from(
    [
        "2026-11-21 10:00:00", "21/11/2026 10:00:00", "21.11.2026 10:00:00",
        "2026-11-21T10:00:00+03:00", "2026-11-21T10:00:00", "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00-14:00", "1e400", "-1e400", "nan", "inf", "1700000000",
        "99999999999", "1e10", "10000000000.5", "-1700000000", "", "null", "да", "1", "0",
    ]
)  # fmt: skip
SCALARS = st.none() | st.booleans() | NUMBERS | HOSTILE_TEXT | TIMELIKE
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)


def json_bytes(value: Any) -> bytes:
    """``value`` as a JSON body a sender could post (lone surrogates go out as escapes)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def field_maps(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the vendor's field names (each present or not) holding any value."""
    return st.fixed_dictionaries(
        {}, optional=dict.fromkeys(names, SCALARS | JSON_VALUES)
    ) | st.dictionaries(HOSTILE_TEXT, JSON_VALUES, max_size=4)


@st.composite
def perturbed(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a valid payload) with some keys dropped, some values replaced by anything,
    and maybe a key it does not know: mostly near-valid, so the fuzzing gets past the
    first check into the code behind it."""
    result: dict[str, Any] = {}
    for key, value in base.items():
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if action == "keep":
            result[key] = value
        elif action == "replace":
            result[key] = draw(SCALARS | JSON_VALUES)
    if draw(st.integers(0, 4)) == 0:
        result[draw(HOSTILE_TEXT)] = draw(JSON_VALUES)
    return result


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes changed, cut, or with a piece repeated."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        if not buffer:
            break
        where = draw(st.integers(0, len(buffer) - 1))
        action = draw(st.sampled_from(["set", "cut", "insert", "repeat"]))
        if action == "set":
            buffer[where] = draw(st.integers(0, 255))
        elif action == "cut":
            del buffer[where : where + draw(st.integers(1, 16))]
        elif action == "insert":
            buffer[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            buffer[where:where] = buffer[where : where + draw(st.integers(1, 32))]
    return bytes(buffer)
