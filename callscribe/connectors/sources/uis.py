"""UIS / CoMagic: the HTTP notifications of a cloud PBX, joined into calls.

UIS reports a call in separate notifications («Уведомления» in its cabinet): «Завершение
звонка» (the call ended), «Записанный разговор» (its recording is stored), «Потерянный
звонок» (nobody answered).  The admin creates them from the bodies ``callscribe sources
uis-template NAME`` prints (``uis_templates.py``); each body names its event in
``callscribe_event`` and carries the source's token in ``callscribe_token``, unless the
token is in the URL path (``/hooks/NAME/<token>``), where it is checked before the body
is read.

A lost call is a missed call at once.  Call end and recorded talk of one
``call_session_id`` are kept as call parts and joined in either order: an answered call
waits ``recording_wait_seconds`` for its recording, then goes on without one; a recording
whose call end never comes goes on, after the same wait, with what its notification says.
Recording links must be on ``recording_hosts``; one that is not (or that names a loopback
or private address) gets the notification refused, nothing stored.  Past days come from
the Data API (``uis_api.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from callscribe.config.base import SecretValue
from callscribe.connectors.base import PartsSoFar, WebhookRequest
from callscribe.connectors.fetch import screen_url
from callscribe.connectors.sources import uis_fields as f
from callscribe.connectors.sources import values as v
from callscribe.connectors.sources.hookauth import (
    TokenCheck,
    VendorHookSettings,
    check_client_address,
)
from callscribe.connectors.sources.uis_api import UisDataApi
from callscribe.connectors.ssrf import RefusedError
from callscribe.connectors.vendor_api import VendorApiSettings, web_address
from callscribe.domain import CallEvent, CallPart
from callscribe.errors import SourceError

log = logging.getLogger(__name__)

TOKEN_KEY = "callscribe_token"  # noqa: S105 - the key's name, not a secret
EVENT_KEY = "callscribe_event"
CALL_END, RECORDED_TALK, LOST_CALL = "call_end", "recorded_talk", "lost_call"
EVENTS = (CALL_END, RECORDED_TALK, LOST_CALL)
UIS_RECORDING_HOSTS = ("app.uiscom.ru", "media.uiscom.ru", "app.comagic.ru", "media.comagic.ru")
# UIS and Okdesk's guides show JSON bodies; some senders label them as a form.
_JSON_TYPES = frozenset(
    {"", "application/json", "text/json", "text/plain", "application/x-www-form-urlencoded"}
)


class UisSourceConfig(VendorHookSettings, VendorApiSettings):
    """``[sources.<name>]`` with ``type = "uis"`` (docs/sources/uis.md); the token goes in
    the notification bodies or the URL path; UIS publishes no sender addresses."""

    type: Literal["uis"]
    recording_hosts: tuple[str, ...] = Field(
        UIS_RECORDING_HOSTS,
        description="Hosts recording links may point at ('*.example.com' for a whole domain).",
    )
    recording_wait_seconds: float = Field(
        600.0,
        ge=0.0,
        description="How long an answered call waits for its «Записанный разговор» "
        "notification (and a recording for its «Завершение звонка») before it goes on "
        "without it.",
    )
    api_url: str = Field(
        "https://dataapi.uiscom.ru/v2.0",
        description="Data API address for `callscribe backfill` (CoMagic: "
        "https://dataapi.comagic.ru/v2.0).",
    )
    api_token: SecretValue | None = Field(
        None,
        description="Data API key (a user's «Ключ API») for `callscribe backfill`; the API's "
        "IP allow-list must include this machine.",
    )
    media_url: str = Field(
        "https://app.uiscom.ru/system/media/talk",
        description="Where a recording in the Data API's call_records is downloaded from "
        "(CoMagic: https://app.comagic.ru/system/media/talk).",
    )
    api_page_size: int = Field(
        1000, ge=1, le=10000, description="Calls asked for per Data API request."
    )

    _addresses = field_validator("api_url", "media_url")(web_address)


class UisSource:
    """Webhook at ``/hooks/<name>[/<token>]``; joins parts; reads past days."""

    def __init__(self, name: str, config: UisSourceConfig) -> None:
        self.name = name
        self.config = config
        self.time_zone = ZoneInfo(config.time_zone)
        self._token = TokenCheck(config.token)
        self._screen = config.fetch_policy(max_bytes=1)  # hosts and schemes only
        self._api = UisDataApi(name, config, self.time_zone)

    async def handle(self, request: WebhookRequest) -> list[CallEvent | CallPart]:
        check_client_address(self.config.allowed_ips, request.client_ip)
        in_path = request.path.removeprefix("/")
        if in_path:
            self._check_token([in_path], "in the URL path")
            fields = self._fields(request)
        else:
            try:
                fields = self._fields(request)
            except SourceError:
                raise SourceError("no token", status=401) from None
        offered = fields.pop(TOKEN_KEY, None)
        if offered is not None or not in_path:
            self._check_token([] if offered is None else [v.text(offered) or ""], "in the body")
        return [self._read(fields)]

    def join(self, external_id: str, parts: PartsSoFar, waited: float) -> CallEvent | None:
        end, talk = parts.get(CALL_END), parts.get(RECORDED_TALK)
        wait = self.config.recording_wait_seconds
        if end is not None:
            talked = v.number(end.get("talk_time_duration")) != 0  # unknown: assume talked
            if talk is None and not self._links(end) and talked:
                if waited < wait:
                    return None
                log.warning(
                    "source %s: call %s: no recording came within %.0f s of its end; it goes "
                    "on without a recording",
                    self.name, external_id, wait,
                )  # fmt: skip
            return self._event(external_id, _merged(talk or {}, end))
        if talk is None or waited < wait:
            return None
        log.warning(
            "source %s: call %s: its «Завершение звонка» notification did not come within "
            "%.0f s; the call goes on with what its recording notification says",
            self.name, external_id, wait,
        )  # fmt: skip
        return self._event(external_id, dict(talk))

    def calls_on(self, day: date) -> AsyncIterator[CallEvent]:
        return self._api.calls_on(day, self._event)

    def _check_token(self, offered: list[str], where: str) -> None:
        candidates = [token.encode("utf-8", "surrogateescape") for token in offered]
        if not candidates or not all(self._token.compare(candidates)):
            raise SourceError(f"wrong or missing token {where}", status=401)

    def _fields(self, request: WebhookRequest) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _JSON_TYPES:
            raise SourceError(
                f"content type {kind[:60]!r}: UIS notifications are JSON (POST) or a query "
                "string (GET)",
                status=415,
            )
        return f.read_body(request.body)

    def _read(self, fields: dict[str, Any]) -> CallEvent | CallPart:
        kind = v.text(fields.pop(EVENT_KEY, None))
        if kind not in EVENTS:
            found = "missing" if kind is None else f"{kind[:40]!r}"
            raise SourceError(
                f"{EVENT_KEY} is {found}: expected one of {', '.join(EVENTS)} (paste the "
                "bodies `callscribe sources uis-template` prints)"
            )
        external_id = v.text(fields.get("call_session_id"))
        if external_id is None or len(external_id) > 200 or not external_id.isprintable():
            raise SourceError("call_session_id is missing or not an id")
        if kind == LOST_CALL or v.flag(fields.get("is_lost")):
            return f.call_event(self.name, external_id, fields, self.time_zone, ())
        if kind == RECORDED_TALK and not f.links(fields.get("file_link")):
            raise SourceError("a «Записанный разговор» notification without file_link")
        for link in self._links(fields):
            try:
                screen_url(link, self._screen)
            except RefusedError as exc:
                raise SourceError(f"recording link {exc}") from None
        return CallPart(self.name, external_id, kind, fields)

    def _links(self, fields: Mapping[str, Any]) -> tuple[str, ...]:
        found = f.links(fields.get("file_link")) + f.links(fields.get("record_file_links"))
        # UIS answers http:// with a redirect to https://; ask for https directly.
        if not self.config.allow_http:
            found = tuple(_https(link) for link in found)
        return tuple(dict.fromkeys(found))

    def _event(self, external_id: str, fields: Mapping[str, Any]) -> CallEvent:
        return f.call_event(self.name, external_id, fields, self.time_zone, self._links(fields))


def _https(link: str) -> str:
    return "https://" + link[7:] if link[:7].lower() == "http://" else link


def _merged(first: Mapping[str, Any], then: Mapping[str, Any]) -> dict[str, Any]:
    """``first`` with the fields ``then`` has a value for (an empty one says nothing)."""
    return {**first, **{key: value for key, value in then.items() if value not in (None, "")}}
