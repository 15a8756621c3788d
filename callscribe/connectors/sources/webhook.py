"""The generic webhook source: any system that can POST JSON with a header.

For PBXs and scripts without a connector of their own.  The schema is documented in
``docs/sources/generic-webhook.md``.  Authentication is a shared token (reliability.md
R-WH-10: there is no signature), checked in constant time on the raw header bytes before
a byte of the body is parsed, plus an optional source-IP allow-list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from callscribe.config.base import Secret, SecretValue
from callscribe.connectors.base import WebhookRequest
from callscribe.connectors.settings import SourceSettings
from callscribe.connectors.sources.hookauth import Networks, TokenCheck, check_client_address
from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.domain import CallEvent, CallPart, Direction, RecordingRef, Speaker
from callscribe.errors import SourceError

MIN_TOKEN_LENGTH = 16


class GenericWebhookConfig(SourceSettings):
    """``[sources.<name>]`` with ``type = "generic"``; also takes the settings every
    source has (``channels``, ``recording_hosts``, ...: ``connectors/settings.py``)."""

    # The token is the only thing between the internet and the queue; a failed check
    # must not print it (pydantic shows the input in its error text by default).
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["generic"]
    token: SecretValue = Field(
        description="Shared secret the sender puts in 'Authorization: Bearer …' or "
        "'X-Callscribe-Token' (at least 16 characters; use credential:NAME)."
    )
    allowed_ips: Networks = Field(
        (), description="Networks the sender may post from, e.g. ['203.0.113.0/24']; empty: any."
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: Secret) -> Secret:
        if len(token.reveal()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_TOKEN_LENGTH} characters: it is the only thing "
                "that tells a PBX from anyone on the internet, and a short one can be "
                "guessed. Generate one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'"
            )
        return token


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


class _Operator(_Strict):
    id: Text = None
    name: Text = None


class _Recording(_Strict):
    url: Annotated[str, BeforeValidator(_required_url)]
    channels: Annotated[tuple[Speaker, Speaker] | None, BeforeValidator(_channels)] = None


class _Payload(_Strict):
    id: Id
    direction: Direction | None = None
    started_at: Instant | None = None
    answered_at: Instant | None = None
    ended_at: Instant | None = None
    client_number: Text = None
    line_number: Text = None
    operator: _Operator | None = None
    recording_url: Url = None
    recordings: list[_Recording] | None = Field(default=None, max_length=20)
    fields: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_way_to_give_recordings(self) -> _Payload:
        if self.recording_url is not None and self.recordings:  # [] with a URL is fine
            raise ValueError("recording_url and recordings: give one or the other")
        return self


_KEYS = ", ".join(_Payload.model_fields)


def _describe(error: ValidationError) -> str:
    """One short line: ``field: problem; field: problem``."""
    unknown: list[str] = []
    problems: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part)[:40] for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
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
        problems.insert(0, f"unknown keys {', '.join(unknown)} (known: {_KEYS})")
    shown = problems[:5]
    if len(problems) > len(shown):
        shown.append(f"and {len(problems) - len(shown)} more")
    return "; ".join(shown)


def _raw_header(value: str) -> bytes:
    # The server decodes header bytes as latin-1; encoding back gives the exact bytes sent.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


class GenericWebhookSource:
    """Accepts one call per request at ``/hooks/<name>`` (POST, JSON body)."""

    def __init__(self, name: str, config: GenericWebhookConfig) -> None:
        self.name = name
        self.config = config
        self._token = TokenCheck(config.token)

    async def handle(self, request: WebhookRequest) -> list[CallEvent | CallPart]:
        """Check the address and token, then parse the body into one :class:`CallEvent`."""
        check_client_address(self.config.allowed_ips, request.client_ip)
        self._check_token(request.headers)
        if request.method != "POST":
            raise SourceError("use POST with a JSON body", status=405)
        data = parse_object(request.body)
        try:
            payload = _Payload.model_validate(data)
        except ValidationError as exc:
            raise SourceError(_describe(exc), status=400) from None
        return [self._event(payload, data)]

    def _check_token(self, headers: Mapping[str, str]) -> None:
        candidates: list[bytes] = []
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                candidates.append(_raw_header(credentials.strip()))
        token = headers.get("x-callscribe-token")
        if token is not None:
            candidates.append(_raw_header(token.strip()))
        if not candidates:
            raise SourceError("no token (Authorization: Bearer or X-Callscribe-Token)", status=401)
        if not any(self._token.compare(candidates)):
            raise SourceError("wrong token", status=401)

    def _event(self, payload: _Payload, raw: dict[str, Any]) -> CallEvent:
        if payload.recordings:
            recordings = tuple(RecordingRef(r.url, r.channels) for r in payload.recordings)
        elif payload.recording_url is not None:
            recordings = (RecordingRef(payload.recording_url),)
        else:
            recordings = ()
        operator = payload.operator or _Operator()
        return CallEvent(
            source=self.name,
            external_id=payload.id,
            direction=payload.direction or Direction.UNKNOWN,
            started_at=payload.started_at,
            answered_at=payload.answered_at,
            ended_at=payload.ended_at,
            client_number=payload.client_number,
            line_number=payload.line_number,
            operator_id=operator.id,
            operator_name=operator.name,
            recordings=recordings,
            raw=raw,
        )
