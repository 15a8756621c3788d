"""Calltouch: the call webhook of a call-tracking service, its recordings and past days
through the calls-diary API.

Calltouch sends a webhook («Интеграции» → «Отправка данных во внешние системы» →
«Вебхуки») as GET or POST with URL-encoded parameters the admin picks, from its servers
in 92.118.66.0/23.  callscribe takes it at ``/hooks/NAME/<token>``, a ≥ 128-bit token in
the path.  The parameter names are configurable because Calltouch's documentation does
not fix them; the defaults are the calls-diary API's field names (``callId``,
``callerNumber``, ...), so a webhook set up with them and a backfilled day read the same.
A call that was not ``successful`` is a missed call; any other is fetched from the
calls-diary download API with ``clientApiId``, which is added to that request only and
never stored or logged.  Every webhook parameter stays in the call's ``raw`` fields for
routes (static or dynamic number, target call...).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Mapping
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, field_validator

from callscribe.config.base import SecretValue
from callscribe.connectors.base import WebhookRequest
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources import values as v
from callscribe.connectors.sources.calltouch_api import CalltouchDiary
from callscribe.connectors.sources.hookauth import (
    Networks,
    TokenCheck,
    VendorHookSettings,
    check_client_address,
)
from callscribe.connectors.spool import FetchedFile
from callscribe.connectors.ssrf import origin
from callscribe.connectors.vendor_api import VendorApiSettings, web_address
from callscribe.domain import Call, CallEvent, CallPart, Direction, RecordingRef
from callscribe.errors import FetchError, SourceError

CALLTOUCH_SENDERS = ("92.118.66.0/23",)
LOCATION_PREFIX = "calltouch:"
_CALL_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_FORM = "application/x-www-form-urlencoded"


class CalltouchSourceConfig(VendorHookSettings, VendorApiSettings):
    """``[sources.<name>]`` with ``type = "calltouch"`` (docs/sources/calltouch.md); the
    token goes in the webhook URL's path (/hooks/NAME/TOKEN)."""

    type: Literal["calltouch"]
    site_id: str = Field(description="«ID сайта» from Calltouch's «Интеграции» → «API».")
    client_api_id: SecretValue = Field(
        description="«API-токен» (clientApiId) from Calltouch's «Интеграции» → «API»: for "
        "recordings and `callscribe backfill`. Use credential:NAME."
    )
    allowed_ips: Networks = Field(
        CALLTOUCH_SENDERS,  # text: validate_default makes them networks
        validate_default=True,
        description="Networks Calltouch sends webhooks from (its published 92.118.66.0/23); "
        "empty: any.",
    )
    api_url: str = Field(
        "https://api.calltouch.ru",
        description="Calltouch API address (calls-diary and recording downloads).",
    )
    api_page_size: int = Field(
        1000, ge=1, le=1000, description="Calls asked for per calls-diary request."
    )
    call_id_param: str = Field("callId", description="Webhook parameter: the call's id.")
    caller_param: str = Field("callerNumber", description="Webhook parameter: who called.")
    line_param: str = Field("phoneNumber", description="Webhook parameter: the number called.")
    date_param: str = Field(
        "date", description="Webhook parameter: when the call began (dd/mm/yyyy hh:mm:ss)."
    )
    duration_param: str = Field("duration", description="Webhook parameter: call seconds.")
    waiting_param: str = Field(
        "waitingConnect", description="Webhook parameter: seconds until it was answered."
    )
    answered_param: str = Field(
        "successful", description="Webhook parameter: true if answered (missing: answered)."
    )

    _api_url = field_validator("api_url")(web_address)

    @field_validator("site_id")
    @classmethod
    def _site_id(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("expected the digits of «ID сайта»")
        return value

    def renames(self) -> dict[str, str]:
        """Webhook parameter name → the calls-diary field it carries."""
        return {
            self.call_id_param: "callId",
            self.caller_param: "callerNumber",
            self.line_param: "phoneNumber",
            self.date_param: "date",
            self.duration_param: "duration",
            self.waiting_param: "waitingConnect",
            self.answered_param: "successful",
        }


class CalltouchSource:
    """Webhook at ``/hooks/<name>/<token>``; fetches its recordings; reads past days."""

    def __init__(self, name: str, config: CalltouchSourceConfig) -> None:
        self.name = name
        self.config = config
        self.time_zone = ZoneInfo(config.time_zone)
        self._token = TokenCheck(config.token)
        self._diary = CalltouchDiary(name, config)

    async def handle(self, request: WebhookRequest) -> list[CallEvent | CallPart]:
        check_client_address(self.config.allowed_ips, request.client_ip)
        offered = request.path.removeprefix("/").encode("utf-8", "surrogateescape")
        if not offered or not all(self._token.compare([offered])):
            raise SourceError("wrong or missing token in the URL path", status=401)
        params = dict(request.query)
        if request.method == "POST":
            params.update(_form(request))
        renames = self.config.renames()
        record = {renames[key]: value for key, value in params.items() if key in renames}
        call_id = v.text(record.get("callId"))
        if call_id is None or not _CALL_ID.fullmatch(call_id):
            raise SourceError(f"{self.config.call_id_param} is missing or not a call id")
        return [call_event(self.name, call_id, record, params, self.time_zone)]

    async def fetch_recording(
        self, call: Call, fetcher: RecordingFetcher, policy: FetchPolicy, dest_dir: Path
    ) -> FetchedFile:
        location = call.event.recordings[0].location
        if not location.startswith(LOCATION_PREFIX):
            raise FetchError(f"not a Calltouch recording: {location[:80]!r}", retryable=False)
        call_id = location.removeprefix(LOCATION_PREFIX)
        url = (
            f"{self.config.api_url}/calls-service/RestAPI/{quote(self.config.site_id)}"
            f"/calls-diary/calls/{quote(call_id, safe='')}/download"
        )
        # The URL is built from the configuration, not from the webhook: only its host.
        api_host = {origin(httpx.URL(url))[1]}
        return await fetcher.fetch(
            url, dataclasses.replace(policy, hosts=api_host), dest_dir, auth=self._with_key
        )

    def calls_on(self, day: date) -> AsyncIterator[CallEvent]:
        return self._diary.calls_on(day, self._event)

    def _event(self, record: Mapping[str, Any]) -> CallEvent | None:
        call_id = v.text(record.get("callId"))
        if call_id is None or not _CALL_ID.fullmatch(call_id):
            return None
        return call_event(self.name, call_id, record, record, self.time_zone)

    def _with_key(self, request: httpx.Request) -> httpx.Request:
        key = self.config.client_api_id.reveal()
        return httpx.Request(
            request.method,
            request.url.copy_add_param("clientApiId", key),
            headers=request.headers,
            extensions=request.extensions,
        )


def call_event(
    source: str,
    call_id: str,
    record: Mapping[str, Any],
    raw: Mapping[str, Any],
    zone: tzinfo,
) -> CallEvent:
    """The call a calls-diary record (or a webhook renamed to its fields) describes.

    Calltouch tracks calls to the numbers it shows visitors, so they are inbound.
    """
    started = v.moment(record.get("date"), zone)
    answered = v.flag(record.get("successful")) is not False
    waiting = v.seconds(record.get("waitingConnect")) or 0.0
    duration = v.seconds(record.get("duration"))
    ended = started + timedelta(seconds=duration) if started and duration is not None else None
    return CallEvent(
        source=source,
        external_id=call_id,
        direction=Direction.INBOUND,
        started_at=started,
        answered_at=started + timedelta(seconds=waiting) if started and answered else None,
        ended_at=ended,
        client_number=v.text(record.get("callerNumber")),
        line_number=v.text(record.get("phoneNumber")),
        recordings=(RecordingRef(LOCATION_PREFIX + call_id),) if answered else (),
        raw=dict(raw),
    )


def _form(request: WebhookRequest) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != _FORM:
        shown = kind[:60] or "none"
        raise SourceError(
            f"content type {shown!r}: Calltouch webhooks are URL-encoded ({_FORM}) or GET",
            status=415,
        )
    try:
        text = request.body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except (UnicodeDecodeError, ValueError):
        raise SourceError("the body is not URL-encoded UTF-8 parameters") from None
