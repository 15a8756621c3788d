"""The generic webhook source: any system that can POST JSON with a header.

For PBXs and scripts without a connector of their own.  The schema is documented in
``docs/sources/generic-webhook.md``.  Authentication is a shared token (reliability.md
R-WH-10: there is no signature), checked in constant time on the raw header bytes before
a byte of the body is parsed, plus an optional source-IP allow-list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from callscribe.config.base import Secret, SecretValue
from callscribe.connectors.base import WebhookRequest
from callscribe.connectors.settings import SHARE_RECORDING_URLS, SourceSettings
from callscribe.connectors.sources.call_schema import CallPayload, describe
from callscribe.connectors.sources.hookauth import Networks, TokenCheck, check_client_address
from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.domain import CallEvent, CallPart, RecordingRef
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
    # The sender chose to send a URL: a lasting one, unless the admin says otherwise.
    share_recording_urls: bool = Field(True, description=SHARE_RECORDING_URLS)

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
            payload = CallPayload.model_validate(data)
        except ValidationError as exc:
            raise SourceError(describe(exc), status=400) from None
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

    def _event(self, payload: CallPayload, raw: dict[str, Any]) -> CallEvent:
        if payload.recordings:
            recordings = tuple(RecordingRef(r.url, r.channels) for r in payload.recordings)
        elif payload.recording_url is not None:
            recordings = (RecordingRef(payload.recording_url),)
        else:
            recordings = ()
        return CallEvent(
            source=self.name,
            external_id=payload.id,
            recordings=recordings,
            raw=raw,
            **payload.details(),
        )
