"""A route's ``where``: conditions on any field of a call, checked when the config loads.

```toml
[routes.where]
"fields.sessionId" = { empty = false }        # each key must hold (all of them)
"raw.targetCall" = true                        # a plain value: equals
any = [ { "call.operator_id" = { in = ["7", "8"] } }, { "call.talk_seconds" = { ge = 30 } } ]
not = { "call.client_number" = { regex = "^\\+7495" } }
```

Tests on a path: ``equals``, ``in``, ``regex`` (searched anywhere in the text; anchor it
with ``^…$``), ``exists`` (true: the field is there and not null), ``empty`` (true:
missing, null, blank text, [] or {}), ``gt``/``ge``/``lt``/``le`` (numbers; text that
spells a number counts).  ``all``, ``any`` and ``not`` combine conditions.  Paths are those
of ``mapping/fields.py`` known before transcription: ``call.*``, ``raw.*``, ``fields.*``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from callscribe.domain import CallEvent
from callscribe.mapping.fields import ROUTE_SCOPE, Subject, check_path, lookup
from callscribe.mapping.template import as_text

COMBINERS = ("all", "any", "not")
OPERATORS = ("equals", "in", "regex", "exists", "empty", "gt", "ge", "lt", "le")
_COMPARE = {"gt": (">", float.__gt__), "ge": (">=", float.__ge__),
            "lt": ("<", float.__lt__), "le": ("<=", float.__le__)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Test:
    path: str
    parts: tuple[str, ...]
    operator: str
    operand: Any  # a compiled pattern for regex

    def explain(self, event: CallEvent) -> str | None:
        """None when the test holds, else why not."""
        value = lookup(Subject(event), self.parts)
        if _holds(self.operator, self.operand, value):
            return None
        return f"{self.path} is {_shown(value)}, wanted {self._wanted()}"

    def describe(self) -> str:
        return f"{self.path}: {self._wanted()}"

    def _wanted(self) -> str:
        op, operand = self.operator, self.operand
        if op in ("exists", "empty"):
            return op if operand else f"not {op}"
        if op == "regex":
            return f"to match /{operand.pattern}/"
        if op in _COMPARE:
            return f"{_COMPARE[op][0]} {as_text(operand)}"
        if op == "in":
            return "one of " + ", ".join(_shown(v) for v in operand)
        return _shown(operand)


@dataclass(frozen=True, slots=True)
class Group:
    kind: str  # "all" or "any"
    items: tuple[Condition, ...]

    def explain(self, event: CallEvent) -> str | None:
        reasons = [item.explain(event) for item in self.items]
        failed = [r for r in reasons if r is not None]
        if self.kind == "all":
            return "; ".join(failed) or None
        return None if len(failed) < len(reasons) else "none of: " + " | ".join(failed)

    def describe(self) -> str:
        joiner = " and " if self.kind == "all" else " or "
        return "(" + joiner.join(item.describe() for item in self.items) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition

    def explain(self, event: CallEvent) -> str | None:
        return f"wanted not ({self.item.describe()})" if self.item.explain(event) is None else None

    def describe(self) -> str:
        return f"not ({self.item.describe()})"


Condition = Test | Group | Not


@dataclass(frozen=True, slots=True)
class Where:
    """A parsed ``where`` table, with the table as written (for ``config show``)."""

    condition: Condition
    source: Mapping[str, Any]

    def explain(self, event: CallEvent) -> str | None:
        return self.condition.explain(event)


def parse_where(value: Any) -> Where:
    if isinstance(value, Where):
        return value
    return Where(_table(value, "where"), value)


def _table(value: Any, where: str) -> Condition:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            f'{where}: expected a table of conditions, e.g. {{ "call.direction" = "inbound" }}'
        )
    items: list[Condition] = []
    for key, operand in value.items():
        if key in ("all", "any"):
            if not isinstance(operand, list) or not operand:
                raise ValueError(f"{key}: expected a list of condition tables")
            items.append(Group(key, tuple(_table(v, f"{key}[{i}]") for i, v in enumerate(operand))))
        elif key == "not":
            items.append(Not(_table(operand, "not")))
        else:
            items += _tests(key, operand)
    return items[0] if len(items) == 1 else Group("all", tuple(items))


def _tests(path: str, operand: Any) -> list[Condition]:
    try:
        parts = check_path(path, ROUTE_SCOPE)
    except ValueError as exc:
        raise ValueError(f"{exc} (or all, any, not)") from None
    if not isinstance(operand, Mapping):
        return [Test(path, parts, "equals", _scalar(path, "equals", operand))]
    if not operand:
        raise ValueError(f"{path}: empty table; write a test such as {{ empty = false }}")
    return [Test(path, parts, op, _operand(path, op, arg)) for op, arg in operand.items()]


def _operand(path: str, op: str, arg: Any) -> Any:
    where = f"{path}.{op}"
    if op == "equals":
        return _scalar(path, op, arg)
    if op == "in":
        if not isinstance(arg, list) or not arg:
            raise ValueError(f"{where}: expected a list of values")
        return tuple(_scalar(path, op, v) for v in arg)
    if op == "regex":
        if not isinstance(arg, str):
            raise ValueError(f"{where}: expected a regular expression in quotes")
        try:
            return re.compile(arg)
        except re.error as exc:
            raise ValueError(f"{where}: not a valid regular expression: {exc}") from None
    if op in ("exists", "empty"):
        if not isinstance(arg, bool):
            raise ValueError(f"{where}: expected true or false")
        return arg
    if op in _COMPARE:
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise ValueError(f"{where}: expected a number")
        return float(arg)
    raise ValueError(f"{path}: unknown test {op!r} (known: {', '.join(OPERATORS)})")


def _scalar(path: str, op: str, value: Any) -> Any:
    if isinstance(value, list | Mapping):
        raise ValueError(f"{path}.{op}: expected text, a number or true/false")
    return value


# --- evaluation -----------------------------------------------------------------------


def _holds(op: str, operand: Any, value: Any) -> bool:
    if op == "equals":
        return _same(value, operand)
    if op == "in":
        return any(_same(value, v) for v in operand)
    if op == "regex":
        return value is not None and operand.search(as_text(value)) is not None
    if op == "exists":
        return (value is not None) is operand
    if op == "empty":
        return _is_empty(value) is operand
    number = _number(value)
    return number is not None and bool(_COMPARE[op][1](number, operand))


def _same(value: Any, operand: Any) -> bool:
    """Equal, reading a webhook's "42" or "true" as the number or boolean asked for."""
    if isinstance(operand, bool):
        if isinstance(value, bool):
            return value is operand
        return isinstance(value, str) and value.strip().lower() == ("true" if operand else "false")
    if isinstance(operand, int | float):
        number = _number(value)
        return number is not None and number == operand
    return value is not None and not isinstance(value, list | dict) and as_text(value) == operand


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        return float(str(value).strip().replace(",", "."))
    except (ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        return None


def _is_empty(value: Any) -> bool:
    return value is None or value in ([], {}) or (isinstance(value, str) and not value.strip())


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    text = repr(value) if isinstance(value, str) else as_text(value)
    return text if len(text) <= 60 else text[:59] + "…"


WhereField = Annotated[
    Where,
    PlainValidator(parse_where),
    PlainSerializer(lambda where: dict(where.source), return_type=dict),
]
