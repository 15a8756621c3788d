"""What a FreePBX (or Asterisk dialplan written the same way) recording's name says.

FreePBX's call recording module names every recording
``<kind>-<dialled>-<caller>-<YYYYMMDD>-<HHMMSS>-<uniqueid>.<format>`` and files it under
``<monitor dir>/YYYY/MM/DD/`` (docs/sources/directory.md says where this was confirmed).
The time is the PBX's local time when recording started; ``uniqueid`` is Asterisk's call
id (``1730780250.107``, with the system name in front on a multi-server PBX).  Which of
the two numbers is the client and which the operator depends on the kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from callscribe.domain import Direction

_NAME = re.compile(
    r"^(?P<kind>[A-Za-z]+)-(?P<dialled>[^-]*)-(?P<caller>.*?)"
    r"-(?P<date>[0-9]{8})-(?P<time>[0-9]{6})(?:-(?P<uniqueid>.+))?$"
)
# A phone number or an extension as Asterisk writes it; "unknown", "anonymous" and
# FreePBX's "s" (any DID) hold no digit and mean "not known", not a mistake.
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_DIGIT = re.compile(r"[0-9]")
_YEARS = range(1970, 2200)

FORM = "<kind>-<dialled>-<caller>-YYYYMMDD-HHMMSS-<uniqueid>"


@dataclass(frozen=True, slots=True)
class _Kind:
    """What one kind of recording says: its direction, and which ``CallEvent`` field
    the dialled and the calling number go to (None: kept in ``raw`` only)."""

    direction: Direction | None
    dialled: str | None
    caller: str | None


KINDS: dict[str, _Kind] = {
    # An inbound route: dialled is the DID, the caller the client; no operator yet.
    "in": _Kind(Direction.INBOUND, "line_number", "client_number"),
    # An outbound route: dialled is the client's number, the caller the extension.
    "out": _Kind(Direction.OUTBOUND, "client_number", "operator_id"),
    # One extension calling another: both are staff; the caller is taken as operator.
    "internal": _Kind(Direction.INTERNAL, None, "operator_id"),
    # An outside call ringing an extension.
    "external": _Kind(Direction.INBOUND, "operator_id", "client_number"),
    # Older FreePBX's name for a call ringing an extension, from inside or outside.
    "exten": _Kind(None, "operator_id", "client_number"),
    # A queue or ring group: dialled is its number; who answered is not in the name.
    "q": _Kind(Direction.INBOUND, None, "client_number"),
    "rg": _Kind(Direction.INBOUND, None, "client_number"),
    # Recording started by the operator's feature code: dialled is that extension.
    "ondemand": _Kind(None, "operator_id", None),
}


@dataclass(frozen=True, slots=True)
class NameDetails:
    """The ``CallEvent`` fields a name gives, what it says as it is (for ``raw``), and
    what could not be read in it (``field: what was wrong``)."""

    fields: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def read_name(stem: str, zone: tzinfo | None) -> NameDetails:
    """What the file name ``stem`` (without its extension) says; ``zone`` is the PBX's
    time zone, None for this machine's."""
    match = _NAME.match(stem)
    if match is None:
        return NameDetails(problems=(f"name: not in FreePBX's form {FORM}",))
    parts = match.groupdict()
    raw = {key: value for key, value in parts.items() if value is not None}
    problems: list[str] = []
    fields: dict[str, Any] = {}
    started = _time(parts["date"], parts["time"], zone)
    if started is None:
        problems.append(f"time: {parts['date']}-{parts['time']} is not a date and time")
    else:
        fields["started_at"] = started
    kind = KINDS.get(parts["kind"].lower())
    if kind is None:
        known = ", ".join(KINDS)
        problems.append(f"kind: {parts['kind']!r} is not one callscribe reads ({known})")
        return NameDetails(fields, raw, tuple(problems))
    if kind.direction is not None:
        fields["direction"] = kind.direction
    for part, target in (("dialled", kind.dialled), ("caller", kind.caller)):
        value = parts[part]
        if not _DIGIT.search(value):
            continue
        if not _NUMBER.match(value):
            problems.append(f"{part}: {value[:40]!r} is not a phone number or extension")
        elif target is not None:
            fields[target] = value
    return NameDetails(fields, raw, tuple(problems))


def _time(date: str, time: str, zone: tzinfo | None) -> datetime | None:
    # Field by field: strptime would take "1" for the month of "20241305" and go on.
    try:
        local = datetime(
            int(date[:4]),
            int(date[4:6]),
            int(date[6:]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
        )
    except ValueError:
        return None
    if local.year not in _YEARS:  # a typo or junk; and near year 1 or 9999 zones overflow
        return None
    # astimezone() on a naive time reads it in this machine's zone, DST included.
    return local.replace(tzinfo=zone) if zone is not None else local.astimezone()
