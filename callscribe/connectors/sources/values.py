"""Values from vendors' webhooks and APIs, read leniently: a number may come as text, a
flag as ``"1"`` or ``"да"``, a time with or without its offset.  What cannot be read is
None — the call still counts, and its raw fields keep what was sent."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

_TEXT_LIMIT = 1000
# Outside these a time or a duration is a typo or an attack, not a call: read as unknown,
# which also keeps the arithmetic done on them (start + duration) inside datetime's range.
_YEARS = range(1970, 2200)
MAX_CALL_SECONDS = 7 * 24 * 3600.0
# Without an offset, in the vendor's zone: UIS's "2026-11-20 10:00:00", Calltouch's
# "20/11/2026 10:00:00", and the dotted Russian form.
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def text(value: Any) -> str | None:
    """A string or a number as text; None for nothing, null, "" or another type."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        shown = str(value)
    elif isinstance(value, float):
        shown = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, str):
        shown = value.strip()
    else:
        return None
    if not shown or shown.lower() == "null":
        return None
    return shown[:_TEXT_LIMIT]


def number(value: Any) -> float | None:
    shown = text(value)
    try:
        return None if shown is None else float(shown)
    except ValueError:
        return None


def seconds(value: Any) -> float | None:
    """A duration in seconds, from 0 to a week; None for anything else."""
    found = number(value)
    return found if found is not None and 0.0 <= found <= MAX_CALL_SECONDS else None


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    shown = (text(value) or "").lower()
    if shown in ("true", "1", "yes", "да"):
        return True
    if shown in ("false", "0", "no", "нет"):
        return False
    return None


def moment(value: Any, zone: tzinfo) -> datetime | None:
    """ISO 8601, one of the vendors' forms (in ``zone`` unless an offset is given), or a
    Unix timestamp; None for anything else."""
    shown = text(value)
    if shown is None:
        return None
    try:
        stamp = float(shown)
    except ValueError:
        pass
    else:
        return datetime.fromtimestamp(stamp, zone) if 1e9 < stamp < 1e11 else None
    parsed = _parse_time(shown)
    if parsed is None or parsed.year not in _YEARS:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _parse_time(shown: str) -> datetime | None:
    try:
        return datetime.fromisoformat(shown)
    except ValueError:
        pass
    for form in _FORMATS:
        try:
            return datetime.strptime(shown, form)
        except ValueError:
            continue
    return None
