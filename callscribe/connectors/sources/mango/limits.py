"""Keeping one source within Mango's API limits (VPBX API v1.9 §1.4).

- Recording downloads: 10 requests a second per PBX; callscribe starts fewer
  (``recording_requests_per_second``), whatever the number of fetch workers.
- ``stats/request``: one every 2 seconds.
- Invalid requests (result codes 3xxx): one per 2 minutes is allowed; a second one gets
  HTTP 401 and blocks the PBX's API for 2 minutes.  So when Mango refuses a request, this
  source makes no API call at all for ``invalid_request_pause_seconds`` (130 s): a retry
  into the block would only extend it.  Fetches asked for meanwhile fail at once, retryable,
  saying why and for how long.
- 429 "Rate limit exceeded": the source waits before its next request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callscribe.errors import FetchError, located

log = logging.getLogger(__name__)

STATS_REQUEST_INTERVAL = 2.5  # Mango: 1 per 2 s; the margin absorbs clock and network jitter
RATE_LIMIT_WAIT = 2.0  # Mango's 429 carries no Retry-After

# Result codes (the documentation's "Список кодов результатов") callscribe can explain.
_CODES = {
    3100: "wrong command parameters",
    3101: "the request was not a POST",
    3102: "the signature does not match: check api_salt",
    3103: "a required parameter is missing",
    3104: "a parameter has the wrong format",
    3105: "unknown vpbx_api_key: check api_key",
    3111: "wrong 'from' and 'to' dates",
    3300: "the object does not exist",
    3320: "recording not found (not stored yet?)",
    3340: "file not found (not stored yet?)",
    3400: "the JSON sent is not valid",
    4002: "the recording was shorter than Mango keeps; it was not saved",
    5001: "Mango is overloaded",
    5008: "the service is unavailable",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why Mango did not give what was asked, and what that means for the next request.

    ``invalid``: the kind of answer Mango counts toward its invalid-request block, so the
    source pauses.  ``wait``: seconds to hold off (rate limited, overloaded).
    """

    reason: str
    retryable: bool = True
    invalid: bool = False
    wait: float | None = None


def result_code(body: Mapping[str, Any] | None) -> int | None:
    """Mango's result code in an answer's JSON (``result``, or ``code`` in some answers)."""
    if not body:
        return None
    for key in ("result", "code"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value:
            return value
        if isinstance(value, str) and value.isdigit() and int(value):
            return int(value)
    return None


def _code_class(code: int | None, thousand: int) -> bool:
    return code is not None and code // 1000 == thousand


# (matches HTTP status and result code, what it means, how the source reacts), first match.
_RULES: tuple[tuple[Callable[[int | None, int | None], bool], str, dict[str, Any]], ...] = (
    (lambda s, c: s == 429 or c == 4290, ": rate limit exceeded", {"wait": RATE_LIMIT_WAIT}),
    (
        lambda s, c: s == 401,
        " (Mango blocks its API for 2 minutes after invalid requests; a wrong api_key or "
        "api_salt makes every request invalid)",
        {"invalid": True},
    ),
    (lambda s, c: _code_class(c, 3), "", {"invalid": True}),
    (lambda s, c: c == 4002, "", {"retryable": False}),
    (lambda s, c: c in (5001, 5008) or s == 503, " (Mango asks to slow down)", {"wait": 5.0}),
    (lambda s, c: _code_class(c, 5) or (s or 0) >= 500, "", {}),
    (lambda s, c: _code_class(c, 2), " (the Mango account is limited or blocked)", {}),
    (
        lambda s, c: s == 403,
        " (is this server's address missing from the API connector's IP list?)",
        {"invalid": True},
    ),
    (lambda s, c: s is not None and 400 <= s < 500, "", {"invalid": True}),
)


def refusal(status: int | None, body: Mapping[str, Any] | None) -> Refusal:
    """Read one refusing answer: its HTTP status and, if it had one, its JSON body."""
    code = result_code(body)
    if (body or {}).get("status") == 429:  # Mango's documented 429 body (§1.4.2)
        status = 429
    said = f"HTTP {status}" if status is not None else "Mango"
    if code is not None:
        said += f", result {code}"
        if code in _CODES:
            said += f": {_CODES[code]}"
    for matches, meaning, reaction in _RULES:
        if matches(status, code):
            return Refusal(said + meaning, **reaction)
    return Refusal(f"{said}: an unexpected answer")


class Pacer:
    """Spaces request starts at least ``interval`` seconds apart, across every task that
    shares it.  Each caller takes the next free slot before sleeping, so no lock."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next = 0.0

    async def turn(self) -> None:
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class ApiGate:
    """One source's way through Mango's limits: pacing and the pause after a refusal."""

    def __init__(
        self,
        source: str,
        *,
        recordings_per_second: float,
        pause_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.recordings = Pacer(1.0 / recordings_per_second, clock)
        self.stats = Pacer(STATS_REQUEST_INTERVAL, clock)
        self._pause_seconds = pause_seconds
        self._clock = clock
        self._until = 0.0
        self._why = ""

    def paused_for(self) -> float:
        return max(0.0, self._until - self._clock())

    def check(self) -> None:
        """Raise a retryable ``FetchError`` saying why, while no request may go to Mango."""
        left = self.paused_for()
        if left > 0:
            reason = f"no requests to Mango's API for another {left:.0f} s after: {self._why}"
            raise FetchError(reason, retryable=True, retry_after=left)

    def failure(self, refusal: Refusal, what: str, where: str | None = None) -> FetchError:
        """Note a refusal (see :meth:`refused`) and return the error saying what failed
        and why, then ``where`` (which recording)."""
        hold = self.refused(refusal)
        reason = f"{what}: {refusal.reason}"
        return FetchError(
            located(reason, where) if where else reason,
            retryable=refusal.retryable,
            retry_after=hold,
        )

    def refused(self, refusal: Refusal) -> float | None:
        """Note a refusal; returns how long this source now stays away, if at all."""
        hold = self._pause_seconds if refusal.invalid else refusal.wait
        if hold is None:
            return None
        until = self._clock() + hold
        if until > self._until:
            if refusal.invalid:
                log.warning(
                    "source %s: Mango refused a request (%s); no requests to its API for "
                    "%.0f s, so as not to be blocked",
                    self.source,
                    refusal.reason,
                    hold,
                )
            self._until, self._why = until, refusal.reason
        return hold
