"""A closed template language for sink settings: ``"Звонок {call.external_id}"``,
``"{call.client_number|phone_e164}"``, ``"{call.started_at|date:%d.%m.%Y}"``.

A template is text with placeholders ``{path|filter|filter:argument}``: a field path
(``fields.py``) and named filters from the table below, nothing else; ``{{`` and ``}}``
are literal braces.  Templates are parsed once, when the configuration is loaded, and an
unknown field, filter or bad argument is refused then.  A template that is one
placeholder and nothing else keeps its value's type (a number stays a number); any other
template is text.

Filters: ``phone_e164``, ``phone_digits``, ``phone_8`` (phone formats); ``date:FORMAT``
and ``utc_date:FORMAT`` (strftime, in the sink's time zone or UTC), ``iso``, ``unix``;
``truncate:N``; ``default:TEXT``; ``string``, ``number``, ``boolean`` (types).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from callscribe.errors import SinkError
from callscribe.mapping.fields import Scope, Subject, check_path, lookup

MASK = "********"
SECRETS = "secrets"
DEFAULT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class Env:
    """How a sink renders: its time zone and secrets (shown as ``MASK`` when ``mask``)."""

    zone: tzinfo = UTC
    secrets: Mapping[str, str] = field(default_factory=dict)
    mask: bool = False


FilterFunction = Callable[[Any, str, Env], Any]


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    argument: str
    apply: FilterFunction


@dataclass(frozen=True, slots=True)
class Placeholder:
    path: tuple[str, ...]
    filters: tuple[Filter, ...]

    def value(self, subject: Subject, env: Env) -> Any:
        if self.path[0] == SECRETS:
            value: Any = MASK if env.mask else env.secrets.get(self.path[1])
        else:
            value = lookup(subject, self.path)
        for step in self.filters:
            value = step.apply(value, step.argument, env)
        return value


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    pieces: tuple[str | Placeholder, ...]

    @classmethod
    def parse(cls, text: str, scope: Scope) -> Template:
        """ValueError naming what is wrong (the caller adds which setting it is)."""
        return cls(text, tuple(_pieces(text, scope)))

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.pieces if isinstance(p, Placeholder))

    def render(self, subject: Subject, env: Env) -> Any:
        """The value (typed for a lone placeholder, else text); SinkError when a filter
        cannot apply to the call's value (``number`` on "abc", say)."""
        if len(self.pieces) == 1 and isinstance(self.pieces[0], Placeholder):
            return self.pieces[0].value(subject, env)
        return "".join(
            piece if isinstance(piece, str) else as_text(piece.value(subject, env))
            for piece in self.pieces
        )


def as_text(value: Any) -> str:
    """A value written into text: "" for nothing, JSON spelling for the rest."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def _pieces(text: str, scope: Scope) -> list[str | Placeholder]:
    pieces: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("{{", "}}"), i):
            literal.append(text[i])
            i += 2
        elif text[i] == "{":
            end = text.find("}", i)
            if end < 0 or "{" in text[i + 1 : end]:
                raise ValueError("'{' without its '}' (write {{ for a literal brace)")
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(_placeholder(text[i + 1 : end], scope))
            i = end + 1
        elif text[i] == "}":
            raise ValueError("'}' without its '{' (write }} for a literal brace)")
        else:
            literal.append(text[i])
            i += 1
    if literal or not pieces:
        pieces.append("".join(literal))
    return pieces


def _placeholder(inner: str, scope: Scope) -> Placeholder:
    path, *steps = inner.split("|")
    path = path.strip()
    if path.split(".")[0] == SECRETS and SECRETS in scope.extra:
        parts = tuple(path.split("."))
        if len(parts) != 2 or not parts[1]:
            raise ValueError(f"{path!r}: write {{secrets.NAME}}")
    else:
        parts = check_path(path, scope)
    return Placeholder(parts, tuple(_filter(step) for step in steps))


def _filter(step: str) -> Filter:
    name, colon, argument = step.partition(":")
    name = name.strip()
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
    check, apply = FILTERS[name]
    if check is None and colon:
        raise ValueError(f"filter {name!r} takes no argument")
    if check is not None:
        check(argument)
    return Filter(name, argument, apply)


# --- filters ------------------------------------------------------------------------

_NON_DIGITS = re.compile(r"\D")


def _phone_digits(value: Any) -> str | None:
    """The number's digits in international form: Russian 8XXXXXXXXXX and bare ten-digit
    numbers get their 7; other numbers keep their digits as written."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return None
    if not text.startswith("+"):
        if len(digits) == 11 and digits[0] == "8":
            digits = "7" + digits[1:]
        elif len(digits) == 10 and digits[0] in "3489":
            digits = "7" + digits
    return digits


def _e164(value: Any, _: str, __: Env) -> str | None:
    digits = _phone_digits(value)
    # Short numbers (an extension, a service number) have no international form.
    return None if digits is None else ("+" + digits if len(digits) >= 8 else digits)


def _eight(value: Any, _: str, __: Env) -> str | None:
    digits = _phone_digits(value)
    if digits is not None and len(digits) == 11 and digits[0] == "7":
        return "8" + digits[1:]
    return digits


def _moment(value: Any, env: Env) -> datetime | None:
    """The value as an aware time in the sink's zone; SinkError when it is none, or one
    that zone cannot show (a timestamp of 1e300, the year 1 moved back a day)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
        # A vendor time without an offset is taken to be in the sink's time zone.
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=env.zone)
        return moment.astimezone(env.zone)
    except (ValueError, OverflowError, OSError):
        raise SinkError(f"{str(value)[:40]!r} is not a date and time", retryable=False) from None


def _date(value: Any, fmt: str, env: Env) -> str | None:
    moment = _moment(value, env)
    return None if moment is None else moment.strftime(fmt or DEFAULT_DATE_FORMAT)


def _utc_date(value: Any, fmt: str, env: Env) -> str | None:
    return _date(value, fmt, Env(UTC, env.secrets, env.mask))


def _iso(value: Any, _: str, env: Env) -> str | None:
    moment = _moment(value, env)
    return None if moment is None else moment.isoformat(timespec="seconds")


def _unix(value: Any, _: str, env: Env) -> int | None:
    moment = _moment(value, env)
    return None if moment is None else int(moment.timestamp())


def _truncate(value: Any, limit: str, _: Env) -> str | None:
    return None if value is None else as_text(value)[: int(limit)]


def _default(value: Any, text: str, _: Env) -> Any:
    return text if value is None or value in ("", [], {}) else value


def _string(value: Any, _: str, __: Env) -> str | None:
    return None if value is None else as_text(value)


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _number(value: Any, _: str, __: Env) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value).strip().replace(",", ".")
    if not _NUMBER.fullmatch(text):
        raise SinkError(f"{str(value)[:40]!r} is not a number", retryable=False)
    number = float(text)
    if not math.isfinite(number):  # "1e400": JSON has no number for it
        raise SinkError(f"{str(value)[:40]!r} is too large a number", retryable=False)
    return int(number) if number.is_integer() and "e" not in text.lower() else number


_TRUE = frozenset({"true", "1", "yes", "y", "on", "да"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "нет", ""})


def _boolean(value: Any, _: str, __: Env) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise SinkError(f"{str(value)[:40]!r} is not true or false", retryable=False)


def _positive_int(argument: str) -> None:
    if not argument.strip().isdigit() or int(argument) < 1:
        raise ValueError(
            f"truncate needs a number of characters, e.g. truncate:200, not {argument!r}"
        )


def _strftime(argument: str) -> None:
    if "%" not in argument and argument:
        raise ValueError(f"date format {argument!r} has no %-codes (e.g. %Y-%m-%d %H:%M)")


def _anything(_: str) -> None:
    return None


FILTERS: Mapping[str, tuple[Callable[[str], None] | None, FilterFunction]] = {
    "phone_e164": (None, _e164),
    "phone_digits": (None, lambda value, _, __: _phone_digits(value)),
    "phone_8": (None, _eight),
    "date": (_strftime, _date),
    "utc_date": (_strftime, _utc_date),
    "iso": (None, _iso),
    "unix": (None, _unix),
    "truncate": (_positive_int, _truncate),
    "default": (_anything, _default),
    "string": (None, _string),
    "number": (None, _number),
    "boolean": (None, _boolean),
}
