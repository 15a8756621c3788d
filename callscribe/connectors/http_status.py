"""How an HTTP answer translates into done, retry later, or give up.

``retry_after`` serves every HTTP client in callscribe; ``check_response`` every sink
that posts over HTTP (reliability requirement R-OUT-2): 2xx is
delivered; 408, 429 and 5xx are retried, honouring Retry-After; redirects are not
followed (an API that moved needs its URL fixed, and following could leak credentials
to another host); every other 4xx is a permanent refusal, kept with the API's reason.
"""

from __future__ import annotations

import email.utils
import time

import httpx

from callscribe.errors import SinkError, located

RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_REASON_CHARS = 300
CONNECT_SECONDS = 10.0  # reliability.md R-OUT-4


def sink_client(timeout_seconds: float, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """The HTTP client of a sink: ``timeout_seconds`` per attempt (connecting within 10 s),
    redirects not followed (see above), ``User-Agent: callscribe``."""
    return httpx.AsyncClient(
        headers={"user-agent": "callscribe", **(headers or {})},
        timeout=httpx.Timeout(timeout_seconds, connect=min(CONNECT_SECONDS, timeout_seconds)),
        follow_redirects=False,
    )


def check_response(response: httpx.Response, api: str = "the API") -> None:
    """Return if the API accepted the request; raise SinkError saying why not: the answer
    first, then the request (``api`` names the platform: "Qolio answered HTTP 422")."""
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"{response.request.method} {_url(response.request.url)}"
    if 300 <= status < 400:
        reason = (
            f"{api} answered HTTP {status}, a redirect to {_location(response)} (check the "
            "URL in the sink's settings)"
        )
        raise SinkError(located(reason, where), retryable=False)
    detail = _detail(response)
    reason = f"{api} answered HTTP {status}" + (f": {detail}" if detail else "")
    retryable = status in RETRYABLE_STATUSES or status >= 500
    raise SinkError(located(reason, where), retryable=retryable, retry_after=retry_after(response))


def transport_error(request_url: str, exc: httpx.HTTPError, api: str = "the API") -> SinkError:
    """Timeouts and connection failures: the API may be back later."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    reason = located(f"cannot reach {api} ({what})", _url(httpx.URL(request_url)))
    return SinkError(reason, retryable=True)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if any.

    Not capped here: the retry policy caps it (``RetryPolicy.retry_after_cap``).
    """
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _url(url: httpx.URL) -> str:
    # Query strings carry API tokens (Okdesk's api_token); never log or store them.
    return str(url.copy_with(query=None))


def _location(response: httpx.Response) -> str:
    # A redirect may echo the request's query (an http -> https move keeps api_token).
    location = response.headers.get("location")
    if not location:
        return "?"
    try:
        return _url(httpx.URL(location))
    except httpx.InvalidURL:
        return "(a location that is not a URL)"


def _detail(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.HTTPError):
        return ""
    text = " ".join(text.split())
    return text[:MAX_REASON_CHARS] + ("…" if len(text) > MAX_REASON_CHARS else "")
