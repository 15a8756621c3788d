"""Values of a call as the helpdesk sinks send them: phone numbers in the platform's
format, an operator's id on the platform, a value named by a path into the call.

Platforms match phone numbers exactly (Usedesk's ``full_match``, Okdesk's ``phone``), and
none of them documents the format it stores, so the format is a setting, never a guess.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from callscribe.domain import CallEvent
from callscribe.errors import SinkError

PhoneFormat = Literal["e164", "digits", "national", "as_received"]
PHONE_FORMATS_HELP = (
    "'e164' (+79991234567), 'digits' (79991234567), 'national' (89991234567: the "
    "country code written as 8, Russian style) or 'as_received' (as the PBX sent it)"
)

#: Attributes of a call a path may name; anything else is looked up in the event's raw
#: vendor payload with a ``raw.`` prefix (``raw.fields.deal`` for the generic webhook).
CALL_ATTRIBUTES = (
    "source",
    "external_id",
    "direction",
    "client_number",
    "line_number",
    "operator_id",
    "operator_name",
)
FIELD_PATH_HELP = (
    f"one of {', '.join(CALL_ATTRIBUTES)}, or 'raw.' and a dotted path into the source's "
    "own payload (the generic webhook's 'fields' object: 'raw.fields.deal')"
)
_NON_DIGITS = re.compile(r"\D")


def check_field_path(path: str) -> str:
    """Raise ValueError unless ``path`` names a call attribute or a ``raw.`` path."""
    if path in CALL_ATTRIBUTES:
        return path
    head, _, rest = path.partition(".")
    if head == "raw" and rest and all(rest.split(".")):
        return path
    raise ValueError(f"{path!r} is not a call field: expected {FIELD_PATH_HELP}")


FieldPath = Annotated[str, AfterValidator(check_field_path)]
"""A setting naming a call field (see :func:`check_field_path`)."""


def field_value(event: CallEvent, path: str) -> Any:
    """The value ``path`` names in the call (see :func:`check_field_path`), or None when
    the call does not carry it."""
    if path in CALL_ATTRIBUTES:
        value = getattr(event, path)
        return value.value if path == "direction" else value
    node: Any = event.raw
    for step in path.split(".")[1:]:
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
    return node


_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]+")


def platform_id(text: str, limit: int) -> str:
    """An id for a platform that stores ours: ``text`` itself when it is short and plain,
    else a stable digest of it.  Folder calls are ``path@size:mtime``, which a platform
    may refuse or cut (none documents its limits) and which would show the file's path."""
    if len(text) <= limit and _PLAIN_ID.fullmatch(text):
        return text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:limit]


def remote_id(value: Any) -> int | None:
    """A platform's numeric id carried in a call field (a ticket the PBX already knows),
    or None when the field is missing or empty.  ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"expected a positive whole number, got {text[:40]!r}")
    return int(text)


def named_id(event: CallEvent, path: str) -> int | None:
    """The platform id (a ticket, an issue) the call names in the field ``path``; a value
    that is not an id is a dead letter naming the field."""
    try:
        return remote_id(field_value(event, path))
    except ValueError as exc:
        raise SinkError(f"the call's {path} is not an id: {exc}", retryable=False) from None


def phone(number: str | None, fmt: PhoneFormat, country_code: str) -> str | None:
    """``number`` written in ``fmt``; None when there is no number.

    A national number (10 digits, or 11 starting with 8 when the country code is 7) gets
    ``country_code``; a number without enough digits to be one (an extension, "anonymous")
    is passed as received.
    """
    if number is None or not number.strip():
        return None
    if fmt == "as_received":
        return number.strip()
    digits = _NON_DIGITS.sub("", number)
    if country_code and len(digits) == 10:
        digits = country_code + digits
    elif country_code == "7" and len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    if len(digits) < 11:
        return number.strip()
    if fmt == "e164":
        return "+" + digits
    if fmt == "national" and country_code == "7" and digits.startswith("7"):
        return "8" + digits[1:]
    return digits


def answered_id(value: Any) -> int | None:
    """A positive id in a platform's answer, or None for anything else."""
    try:
        return remote_id(value)
    except ValueError:
        return None
