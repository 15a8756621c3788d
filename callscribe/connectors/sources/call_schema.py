"""The JSON schema of one call, as the generic webhook receives it and a directory
source's sidecar file gives it: parsing, validation and the error text, in one place.

The schema is documented in ``docs/sources/generic-webhook.md``.  Parsing refuses what
a lenient parser would guess at (a key twice in one object, NaN); validation accepts what
PBXs and scripts really send (numbers for ids and phone numbers, ``""`` for "none").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from callscribe.config.base import plain_message
from callscribe.domain import Direction, Speaker


def _string(limit: int, *, required: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and not required:
            return None
        # Numbers are accepted because scripts send ids and phone numbers unquoted; bool
        # is an int to Python but never an id.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("expected a string or a number")
        text = value if isinstance(value, str) else repr(value)
        if not text.strip():
            if not required:
                return None  # PBXs send "" for "no operator", "number withheld"
            raise ValueError("must not be empty")
        if len(text) > limit:
            raise ValueError(f"at most {limit} characters")
        if required and any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            # Only the id: it becomes a key and a file name.  A stray newline in a name
            # must not cost a call; logs escape it.
            raise ValueError("must not contain control characters")
        return text

    return check


def _iso(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected an ISO 8601 string such as 2026-11-21T10:00:00+03:00")
    return value


def _channels(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = tuple(part.strip() for part in value.split(","))
    allowed = {Speaker.OPERATOR.value, Speaker.CLIENT.value}
    if len(parts) != 2 or not set(parts) <= allowed or parts[0] == parts[1]:
        raise ValueError('expected "operator,client" or "client,operator" (left,right)')
    return tuple(Speaker(part) for part in parts)


def _url(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # "no recording" (a missed call), however the sender spells it
    # A webhook may only point at the network: a local path would let anyone who holds
    # the token make callscribe read its own files.
    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        raise ValueError("expected an http:// or https:// URL")
    if len(value) > 4000:
        raise ValueError("at most 4000 characters")
    return value


def _required_url(value: Any) -> str:
    url: str | None = _url(value)
    if url is None:
        raise ValueError("expected an http:// or https:// URL")
    return url


Id = Annotated[str, BeforeValidator(_string(200, required=True))]
Text = Annotated[str | None, BeforeValidator(_string(1000, required=False))]
Instant = Annotated[AwareDatetime, BeforeValidator(_iso)]
Url = Annotated[str | None, BeforeValidator(_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Operator(_Strict):
    id: Text = None
    name: Text = None


class RecordingItem(_Strict):
    url: Annotated[str, BeforeValidator(_required_url)]
    channels: Annotated[tuple[Speaker, Speaker] | None, BeforeValidator(_channels)] = None


class CallPayload(_Strict):
    """One call: the generic webhook's body."""

    id: Id
    direction: Direction | None = None
    started_at: Instant | None = None
    answered_at: Instant | None = None
    ended_at: Instant | None = None
    client_number: Text = None
    line_number: Text = None
    operator: Operator | None = None
    recording_url: Url = None
    recordings: list[RecordingItem] | None = Field(default=None, max_length=20)
    fields: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_way_to_give_recordings(self) -> CallPayload:
        if self.recording_url is not None and self.recordings:  # [] with a URL is fine
            raise ValueError("recording_url and recordings: give one or the other")
        return self

    def details(self) -> dict[str, Any]:
        """The :class:`~callscribe.domain.CallEvent` fields this payload gives (those
        it leaves out are absent, so another source of details can fill them)."""
        operator = self.operator or Operator()
        found = {
            "direction": self.direction,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "client_number": self.client_number,
            "line_number": self.line_number,
            "operator_id": operator.id,
            "operator_name": operator.name,
        }
        return {key: value for key, value in found.items() if value is not None}


def describe(error: ValidationError, model: type[BaseModel] = CallPayload) -> str:
    """One short line: ``field: problem; field: problem``."""
    unknown: list[str] = []
    problems: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part)[:40] for part in item["loc"])
        message = plain_message(item)
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            unknown.append(repr(where))
        elif item["type"] == "timezone_aware":
            problems.append(f"{where}: add a UTC offset, e.g. 2026-11-21T10:00:00+03:00")
        elif item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
        elif item["type"] in ("model_type", "dict_type"):
            problems.append(f"{where}: expected an object")
        else:
            problems.append(f"{where}: {message}" if where else message)
    if unknown:
        known = ", ".join(model.model_fields)
        problems.insert(0, f"unknown keys {', '.join(unknown)} (known: {known})")
    shown = problems[:5]
    if len(problems) > len(shown):
        shown.append(f"and {len(problems) - len(shown)} more")
    return "; ".join(shown)
