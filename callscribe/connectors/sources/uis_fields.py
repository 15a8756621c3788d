"""What UIS notifications carry, read tolerantly: bodies UIS filled from a template, values
of any JSON type (or text, in a GET query), and the call they describe.

UIS fills a notification template by putting each ``{{placeholder}}``'s value in its
place as a JSON value (strings quoted, numbers bare), which is why its templates write
placeholders unquoted.  What it does with an empty value is not documented; with an
unquoted placeholder it can leave nothing at all (``"employee_id":,``), and an admin
who quoted a placeholder gets a string inside quotes (``""Иван""``).  A body that is not
valid JSON is therefore mended at value positions only, in ways that can only turn
invalid JSON into valid JSON (a valid body is never touched):

- nothing between ``:`` and ``,`` / ``}`` / ``]`` → ``null``;
- an unfilled ``{{placeholder}}`` → ``null``;
- ``""text""`` → ``"text"``; ``"[...]"`` / ``"{...}"`` holding JSON → that JSON;
- any other bare text (``2024-05-01 10:00:00``, ``Иван``) → a JSON string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta, tzinfo
from typing import Any

from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.connectors.sources.values import moment, seconds, text
from callscribe.domain import CallEvent, Direction, RecordingRef
from callscribe.errors import SourceError

_DELIMITERS = ",}]"
_SPACE = " \t\r\n"
_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z0-9_.]*\s*\}\}")


def read_body(body: bytes) -> dict[str, Any]:
    """The notification's fields; ``SourceError(400)`` when even the mended body is no
    JSON object (the reason given is the original body's)."""
    try:
        return parse_object(body)
    except SourceError as original:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise original from None
        try:
            return parse_object(mend(text))
        except SourceError:
            raise original from None


def mend(text: str) -> str:
    """``text`` with the value positions UIS's substitution can break mended (see above)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
            continue
        out.append(char)
        i += 1
        if char == ":":
            start = _skip_space(text, i)
            out.append(text[i:start])
            value, i = _value(text, start)
            out.append(value)
    return "".join(out)


def _value(text: str, start: int) -> tuple[str, int]:
    """The mended value at ``start`` and where it ends; ``("", start)`` for a value the
    main loop copies as it is (a string, an object, an array)."""
    placeholder = _PLACEHOLDER.match(text, start)
    if placeholder and _delimited(text, placeholder.end()):
        return "null", placeholder.end()
    if text.startswith('""', start) and not _delimited(text, start + 2):
        end = _closing(text, start + 2, '""')
        if end is not None:
            return f'"{text[start + 2 : end]}"', end + 2
    if text.startswith(('"[', '"{'), start):
        closer = ']"' if text[start + 1] == "[" else '}"'
        search = start + 2
        while (end := _closing(text, search, closer)) is not None:
            inner = text[start + 1 : end + 1]
            if _is_json(inner):
                return inner, end + 2
            search = end + 1
    if start < len(text) and text[start] in '"{[':
        return "", start
    end = start
    while end < len(text) and text[end] not in _DELIMITERS:
        end += 1
    bare = text[start:end].strip()
    if not bare:
        return "null", end
    return (bare if _is_json(bare) else json.dumps(bare, ensure_ascii=False)), end


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return len(text)


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _delimited(text: str, i: int) -> bool:
    j = _skip_space(text, i)
    return j >= len(text) or text[j] in _DELIMITERS


def _closing(text: str, start: int, closer: str) -> int | None:
    """The first ``closer`` at or after ``start`` that a delimiter follows."""
    i = text.find(closer, start)
    while i != -1:
        if _delimited(text, i + len(closer)):
            return i
        i = text.find(closer, i + 1)
    return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def links(value: Any) -> tuple[str, ...]:
    """Recording links: a JSON list, a list written as a string, or one link."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return ()
    items = value if isinstance(value, list) else [value]
    return tuple(dict.fromkeys(link for item in items if (link := text(item)) is not None))


_DIRECTIONS = {
    "in": Direction.INBOUND,
    "incoming": Direction.INBOUND,
    "inbound": Direction.INBOUND,
    "out": Direction.OUTBOUND,
    "outgoing": Direction.OUTBOUND,
    "outbound": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
}


def call_event(
    source: str,
    external_id: str,
    fields: Mapping[str, Any],
    zone: tzinfo,
    recordings: tuple[str, ...],
) -> CallEvent:
    """The call the notification fields (of one or several notifications, merged) say."""
    direction = _DIRECTIONS.get((text(fields.get("direction")) or "").lower(), Direction.UNKNOWN)
    ended = moment(fields.get("finish_time"), zone)
    talk = seconds(fields.get("talk_time_duration"))
    answered = ended - timedelta(seconds=talk) if ended and talk else None
    return CallEvent(
        source=source,
        external_id=external_id,
        direction=direction,
        started_at=moment(fields.get("start_time"), zone),
        answered_at=answered,
        ended_at=ended,
        client_number=_first(fields, "contact_phone_number", _client_side(direction)),
        line_number=_first(fields, "virtual_phone_number"),
        operator_id=_first(fields, "employee_id", "last_talked_employee_id"),
        operator_name=_first(fields, "employee_full_name", "last_talked_employee_full_name"),
        recordings=tuple(RecordingRef(link) for link in recordings),
        raw=dict(fields),
    )


def _client_side(direction: Direction) -> str:
    return "called_phone_number" if direction is Direction.OUTBOUND else "calling_phone_number"


def _first(fields: Mapping[str, Any], *names: str) -> str | None:
    return next((value for name in names if (value := text(fields.get(name)))), None)
