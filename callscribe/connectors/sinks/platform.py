"""A helpdesk's HTTP API as the vendor sinks (Qolio, Usedesk, Okdesk) call it.

Every answer goes through :func:`~callscribe.connectors.http_status.check_response`
(R-OUT-2): 2xx done, 408/429/5xx retried honouring Retry-After, other 4xx a dead letter
with the platform's own message.  A refused credential (401, 403) is a dead letter that
names the sink and the setting to fix.  Query strings (Okdesk's ``api_token``) never reach
a reason, a log line or the database.

A sink's URL is the admin's own setting, not input from the network: plain ``http://`` and
loopback are allowed (a platform installed on-premises, a test server); a plain-http URL to
another machine logs a warning at start, since the token would travel in clear.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import Field

from callscribe.config.base import ConfigModel
from callscribe.connectors.http_status import check_response, transport_error
from callscribe.connectors.sinks.call_values import PHONE_FORMATS_HELP, PhoneFormat, phone
from callscribe.domain import CallEvent
from callscribe.errors import SinkError, located

log = logging.getLogger(__name__)

#: Reads a refused answer and returns the reason to give instead of the generic one
#: (Qolio's "no active operator"), or None.
Refusal = Callable[[httpx.Response], str | None]


class PlatformSettings(ConfigModel):
    """What every helpdesk sink has besides its URL and credentials."""

    timeout_seconds: float = Field(
        30.0, gt=0, le=120, description="Give up on one request after this long (retried later)."
    )
    phone_format: PhoneFormat = Field(
        "digits",
        description=f"How the client's number is written for the platform: {PHONE_FORMATS_HELP}.",
    )
    country_code: str = Field(
        "7", pattern=r"^\d{0,3}$", description="Added to 10-digit national numbers; '' = never."
    )

    def client_phone(self, event: CallEvent) -> str | None:
        return phone(event.client_number, self.phone_format, self.country_code)


class PlatformAPI:
    """One platform's API for one sink: a base URL, credentials sent with every request,
    answers decoded from JSON or turned into a :class:`SinkError` saying why not."""

    def __init__(
        self,
        sink: str,
        platform: str,
        base_url: str,
        *,
        credential_setting: str,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        refusal: Refusal | None = None,
    ) -> None:
        """``secrets``: credential values to blank out of any reason (an API that echoes
        the request back in its error page must not put the token in the database)."""
        self.sink = sink
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self._credential_setting = credential_setting
        self._query = dict(query or {})
        self._refusal = refusal
        self._secrets = tuple(secret for secret in secrets if secret)
        self._client = httpx.AsyncClient(
            headers={"user-agent": "callscribe", **(headers or {})},
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            follow_redirects=False,
        )
        warn_if_plain_http(sink, self.base_url)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request to ``base_url + path``; the decoded JSON answer (None when the
        body is empty)."""
        try:
            return await self._call(method, path, json, query)
        except SinkError as exc:
            message = str(exc)
            if not any(secret in message for secret in self._secrets):
                raise
            for secret in self._secrets:
                message = message.replace(secret, "********")
            raise SinkError(message, retryable=exc.retryable, retry_after=exc.retry_after) from None

    async def _call(
        self, method: str, path: str, json: Any, query: Mapping[str, str] | None
    ) -> Any:
        url = self.base_url + path
        try:
            response = await self._client.request(
                method, url, json=json, params={**self._query, **(query or {})} or None
            )
        except httpx.HTTPError as exc:
            raise transport_error(url, exc, self.platform) from None
        self._check(response)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise self.unexpected(
                located(
                    f"answered {response.status_code} with something that is not JSON: "
                    f"{_start(response.text)}",
                    f"{method} {path}",
                )
            ) from None

    def unexpected(self, what: str) -> SinkError:
        """A 2xx answer callscribe cannot read.  Not retried: the platform may have done the
        work, and a blind repeat could do it twice; the reason says what came back."""
        return SinkError(f"{self.platform} {what}", retryable=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            raise SinkError(
                f"{self.platform} refused the credentials (HTTP {status}: "
                f"{_start(response.text)}); check {self._credential_setting} in "
                f"[sinks.{self.sink}]",
                retryable=False,
            )
        if not 200 <= status < 300 and self._refusal is not None:
            reason = self._refusal(response)
            if reason is not None:
                raise SinkError(reason, retryable=False)
        check_response(response, self.platform)


def warn_if_plain_http(sink: str, url: str) -> None:
    parsed = httpx.URL(url)
    if parsed.scheme == "http" and not _is_loopback(parsed.host):
        log.warning(
            "sink %s: %s is plain http to another machine; its token and the transcripts "
            "travel unencrypted (use https unless the network is your own)",
            sink,
            parsed.copy_with(query=None),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _start(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "") if text else "(empty body)"
