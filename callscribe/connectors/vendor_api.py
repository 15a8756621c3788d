"""Talking to a vendor's API (call history for ``callscribe backfill``) within its limits.

A vendor API is the admin's configured URL, not a webhook's, so it is called directly
(no SSRF screening), but never with redirects followed (credentials would follow them)
and never with its query string in a message: API tokens travel there (Calltouch's
``clientApiId``).  Requests are paced (a minimum interval between two), and the
answers that mean "not now" (429, 5xx, a network failure, or what the caller's reader
calls :class:`TryLater`, such as a JSON-RPC limit error) are waited out — the server's
Retry-After when it gives one — a few times before the call is given up with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, field_validator

from callscribe.config.base import ConfigModel
from callscribe.connectors.http_status import retry_after
from callscribe.connectors.ssrf import redact_url
from callscribe.errors import SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class VendorApiSettings(ConfigModel):
    """The vendor's time zone, and how gently a source calls its API."""

    time_zone: str = Field(
        "Europe/Moscow",
        description="The vendor account's time zone (IANA name): times it sends without an "
        "offset are read in it, and `callscribe backfill` counts days in it.",
    )
    api_interval_seconds: float = Field(
        1.0, ge=0.0, le=60.0, description="Least time between two requests to the vendor's API."
    )
    api_attempts: int = Field(
        5, ge=1, le=20, description="Tries of one API request the vendor answers 'not now' to."
    )
    api_wait_seconds: float = Field(
        60.0,
        ge=0.0,
        le=3600.0,
        description="Longest wait between two tries (the vendor's Retry-After is honoured "
        "up to this; without one, waits double from 2 s up to this).",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name[:60]!r} (e.g. Europe/Moscow)") from None
        return name


def web_address(value: str) -> str:
    """Validator for a vendor's base URL: http(s), without the trailing slash."""
    if not value.startswith(("https://", "http://")):
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


class TryLater(Exception):  # noqa: N818 - an instruction to the client, not a failure
    """The vendor said "not now" (a rate limit, maintenance): try the same request later."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class VendorApi:
    """One vendor API's client: paced, waits out "not now", never logs a query string."""

    def __init__(
        self,
        name: str,
        settings: VendorApiSettings,
        *,
        timeout: float = 60.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._settings = settings
        self._sleep = sleep
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._last = float("-inf")

    async def call(self, request: httpx.Request, read: Callable[[httpx.Response], T]) -> T:
        """Send ``request`` until ``read`` makes something of the answer.

        ``read`` gets every answer that is not 429 or 5xx; it returns the value, raises
        :class:`TryLater` for "not now", or ``SourceError`` for a refusal.  Raises
        ``SourceError`` once the tries are used up.
        """
        shown = f"{request.method} {redact_url(str(request.url))}"
        attempts = self._settings.api_attempts
        for attempt in range(1, attempts + 1):
            await self._pace()
            try:
                return await self._once(request, read)
            except TryLater as later:
                if attempt == attempts:
                    raise SourceError(
                        f"{self.name}: {shown}: {later.reason}; gave up after {attempts} tries",
                        status=503,
                    ) from None
                wait = min(
                    later.after if later.after is not None else 2.0**attempt,
                    self._settings.api_wait_seconds,
                )
                log.warning(
                    "%s: %s: %s; trying again in %.0f s", self.name, shown, later.reason, wait
                )
                await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _once(self, request: httpx.Request, read: Callable[[httpx.Response], T]) -> T:
        # A client per request: backfill sends a request per page, and nothing is left
        # open between the calls of a source that has no lifecycle of its own.
        async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
            try:
                response = await client.send(request, follow_redirects=False)
            except httpx.TransportError as exc:
                raise TryLater(f"{type(exc).__name__}: no answer") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TryLater(f"HTTP {status}", retry_after(response))
        return read(response)

    async def _pace(self) -> None:
        wait = self._last + self._settings.api_interval_seconds - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._last = time.monotonic()
