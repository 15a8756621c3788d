"""Write settings back as TOML, for ``callscribe config show``.

Only what ``Settings.model_dump(mode="json")`` produces needs writing: tables, arrays,
strings, numbers, booleans and None.  TOML has no null, so a setting left unset is
written as a comment, and the output reads back (``tomllib``) to the same values
without those keys.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(data, (), lines, header=None)
    return "\n".join(lines).strip("\n") + "\n"


def _table(
    table: Mapping[str, Any], path: tuple[str, ...], lines: list[str], header: str | None
) -> None:
    """A table's own values under ``header``, then its sub-tables and arrays of tables."""
    simple = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    if header is not None and (simple or not any(_nested(table))):
        lines += ["", header]
    for key, value in simple.items():
        unset = f"# {_key(key)} is not set"
        lines.append(unset if value is None else f"{_key(key)} = {_value(value)}")
    for key, value in _nested(table):
        inner = (*path, key)
        name = ".".join(_key(part) for part in inner)
        if _is_table(value):
            _table(value, inner, lines, header=f"[{name}]")
        else:
            for item in value:
                lines += ["", f"[[{name}]]"]
                _table(item, inner, lines, header=None)


def _nested(table: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in table.items() if _is_table(v) or _is_table_array(v)]


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # A JSON string is a TOML basic string (the same escapes); TOML also wants DEL
    # escaped, which JSON leaves as it is.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + ", ".join(pairs) + " }" if value else "{}"
    if isinstance(value, bool | int | float):
        return _scalar(value)
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _scalar(value: bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)
