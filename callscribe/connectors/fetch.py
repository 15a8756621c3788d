"""Fetch a call recording, over HTTP(S) or from a spool directory, under a source's policy.

Every network hop, the first request and each redirect, passes the same gate (R-SSRF-1..4):
:func:`~.ssrf.check_url` (scheme, no ``user:password@``, host spelling and allow-list),
then DNS, where every A and AAAA answer must pass :func:`~.ssrf.check_address`, then a
connection to one of those checked addresses through :class:`~.ssrf.PinnedTransport`.
Sizes and times are bounded as R-SSRF-5 asks; nothing half-written is ever left behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Protocol

import httpx

from callscribe import faults
from callscribe.connectors.http_status import retry_after
from callscribe.connectors.spool import CHUNK, FetchedFile, Spool, copy_local
from callscribe.connectors.ssrf import (
    IPAddress,
    PinnedTransport,
    RefusedError,
    check_address,
    check_url,
    origin,
    redact_url,
)
from callscribe.errors import FetchError, located

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"User-Agent": "callscribe", "Accept": "*/*", "Accept-Encoding": "identity"}
_MEDIA_TYPE = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+")


class AuthHook(Protocol):
    """Adds a source's credentials to the first request of a fetch, and to nothing else.

    Return the request to send: the same one with a header or query parameter added
    (a Basic ``Authorization`` header, Calltouch's ``clientApiId``), or a new one with
    another method and body (Mango's signed POST that answers 302).  The origin must not
    change.  Redirect hops are plain GETs built by the fetcher: credentials never follow.
    """

    def __call__(self, request: httpx.Request) -> httpx.Request: ...


class Resolver(Protocol):
    """Turns a host name into every address it has (A and AAAA)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The system resolver: ``getaddrinfo`` with AF_UNSPEC returns A and AAAA answers."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All distinct addresses of ``host``, in the system's order of preference."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Where from and how much one source may fetch.  Collections become frozensets.

    ``schemes``: ``http`` only if the source cannot do TLS.  ``hosts``: recording host
    names, addresses or ``*.suffix`` patterns; EMPTY ALLOWS ANY PUBLIC HOST, an opt-in
    (sources ship their known hosts).  ``allow_private``: LAN addresses for an on-premises
    PBX, never loopback or link-local.  ``local_dirs``: absolute paths and ``file:`` URLs
    inside these directories; without it they are refused before touching the disk.
    ``first_byte_timeout`` bounds the wait for the response and any later silence.
    ``loopback_ports``: ports on this machine (127.0.0.1, ::1) the source may fetch from, for
    a PBX whose web server runs on the same host; every other loopback port stays refused.
    """

    schemes: Collection[str] = frozenset({"https"})
    hosts: Collection[str] = frozenset()
    allow_private: bool = False
    max_bytes: int = 100 * 1024 * 1024
    connect_timeout: float = 10.0
    first_byte_timeout: float = 30.0
    total_timeout: float = 300.0
    max_redirects: int = 3
    local_dirs: Collection[Path] = frozenset()
    loopback_ports: Collection[int] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.schemes, str) or isinstance(self.hosts, str):
            raise TypeError("schemes and hosts are collections of strings, not one string")
        if not set(self.schemes) <= {"http", "https"}:
            raise ValueError(f"schemes may only be http and https, not {sorted(self.schemes)}")
        hosts = frozenset(h.lower().removesuffix(".") for h in self.hosts)
        object.__setattr__(self, "schemes", frozenset(self.schemes))
        object.__setattr__(self, "hosts", hosts)
        object.__setattr__(self, "local_dirs", frozenset(Path(d) for d in self.local_dirs))
        object.__setattr__(self, "loopback_ports", frozenset(self.loopback_ports))


class RecordingFetcher:
    """Fetches recordings into a directory; keeps no state between fetches."""

    def __init__(
        self, *, resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._resolver = resolver or SystemResolver()
        self._ssl = ssl_context or httpx.create_ssl_context()

    async def fetch(
        self,
        location: str,
        policy: FetchPolicy,
        dest_dir: Path,
        *,
        auth: AuthHook | None = None,
        hide_redirects: bool = False,
    ) -> FetchedFile:
        """Fetch ``location`` (an http(s) URL, an absolute path or a ``file:`` URL).

        Returns once the file is complete under its final name in ``dest_dir``; on failure
        nothing is left there.  Raises ``FetchError``, retryable for a recording that is
        not there yet (404, 410), 408, 425, 429, 5xx, timeouts and network errors, with the
        server's Retry-After and the HTTP status; :class:`~.ssrf.RefusedError` (not
        retryable) when the policy forbids it.  Messages and logs never contain the URL's
        query string; with ``hide_redirects`` (single-use links such as Mango's, whose path
        is the credential) they show a redirect target as its origin only.
        """
        where = redact_url(location)
        try:
            if location.startswith("/") or location[:5].lower() == "file:":
                if not policy.local_dirs:
                    raise RefusedError("this source does not read local files", url=where)
                return await asyncio.to_thread(
                    copy_local, location, policy.local_dirs, policy.max_bytes, dest_dir
                )
            try:
                async with asyncio.timeout(policy.total_timeout):
                    return await self._fetch_http(location, policy, dest_dir, auth, hide_redirects)
            except TimeoutError:
                total = f"{policy.total_timeout:g} s"
                reason = located(f"download not finished after {total}", where)
                raise FetchError(reason, retryable=True) from None
        except RefusedError as exc:
            log.warning("%s", exc)
            raise
        except OSError as exc:  # our side: dest_dir unwritable, disk full, a read error
            why = exc.strerror or exc
            reason = located(f"cannot store the recording in {dest_dir} ({why})", where)
            raise FetchError(reason, retryable=True) from None

    async def aclose(self) -> None:
        """Nothing to release: every fetch opens and closes its own connections."""

    async def _fetch_http(
        self,
        location: str,
        policy: FetchPolicy,
        dest_dir: Path,
        auth: AuthHook | None,
        hide_redirects: bool,
    ) -> FetchedFile:
        where = redact_url(location)
        try:
            url = httpx.URL(location)
        except httpx.InvalidURL:
            raise RefusedError("not a valid URL", url=where) from None
        timeout = httpx.Timeout(policy.first_byte_timeout, connect=policy.connect_timeout)
        for hop in range(policy.max_redirects + 1):
            transport = await self._pin(url, policy, where)
            async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
                request = httpx.Request("GET", url, headers=_HEADERS)
                if hop == 0 and auth is not None:
                    request = auth(request)
                    if origin(request.url) != origin(url):
                        raise RefusedError("the source's auth hook changed the origin", url=where)
                request.extensions["timeout"] = timeout.as_dict()  # whatever the hook built
                try:
                    response = await client.send(request, stream=True, follow_redirects=False)
                    try:
                        if response.status_code not in _REDIRECTS:
                            _raise_for_status(response, where)
                            return await _save(response, url.path, policy, dest_dir, where)
                        url = _next_hop(url, response, where, hide_redirects)
                        where = f"{where} -> {_shown(url, hide_redirects)}"
                    finally:
                        await response.aclose()
                except httpx.TransportError as exc:  # timeouts, refused connections, TLS
                    detail = f"{type(exc).__name__}: {exc}"
                    if url.query:  # belt and braces: httpcore's messages carry no URL
                        detail = detail.replace(url.query.decode(), "...")
                    reason = located(f"download failed ({detail})", where)
                    raise FetchError(reason, retryable=True) from None
        raise RefusedError(f"more than {policy.max_redirects} redirects", url=where)

    async def _pin(self, url: httpx.URL, policy: FetchPolicy, where: str) -> PinnedTransport:
        """Check one hop, resolve it once, and return a transport pinned to it."""
        try:
            host = check_url(url, policy.schemes, policy.hosts)
            if isinstance(host, str):
                addresses = await self._resolver.resolve(host, origin(url)[2])
                if not addresses:
                    raise OSError(f"{host} has no addresses")
            else:
                addresses = [host]
            _check_addresses(addresses, origin(url)[2], policy)
        except RefusedError as exc:
            raise RefusedError(exc.reason, url=where) from None
        except OSError as exc:  # socket.gaierror: NXDOMAIN will not heal, SERVFAIL may
            retry = getattr(exc, "errno", None) != socket.EAI_NONAME
            reason = located(f"cannot resolve the host ({exc})", where)
            raise FetchError(reason, retryable=retry) from None
        sni = host if isinstance(host, str) else None
        return PinnedTransport(url, self._dial_address(addresses[0]), self._ssl, sni=sni)

    def _dial_address(self, address: IPAddress) -> str:
        """The address to connect to once ``address`` passed the policy: itself.

        A seam for tests, which reach servers on loopback behind public-looking addresses
        while the real policy stays in force.
        """
        return str(address)


def screen_url(location: str, policy: FetchPolicy) -> None:
    """Refuse a recording URL the policy forbids, without any I/O: what a webhook can be
    answered with at once (scheme, host allow-list, an address written in the URL).
    A name is only resolved, and its addresses checked, when the recording is fetched.
    Raises :class:`~.ssrf.RefusedError` with a redacted URL."""
    where = redact_url(location)
    try:
        url = httpx.URL(location)
        host = check_url(url, policy.schemes, policy.hosts)
        if not isinstance(host, str):
            _check_addresses([host], origin(url)[2], policy)
    except httpx.InvalidURL:
        raise RefusedError("not a valid URL", url=where) from None
    except RefusedError as exc:
        raise RefusedError(exc.reason, url=where) from None


def _check_addresses(addresses: list[IPAddress], port: int, policy: FetchPolicy) -> None:
    for address in addresses:  # one bad answer refuses the name (R-SSRF-3)
        if not (address.is_loopback and port in policy.loopback_ports):
            check_address(address, allow_private=policy.allow_private)


def _raise_for_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status in (200, 203):
        return
    after = retry_after(response)
    if status in (404, 410):  # PBXs publish the recording a little after the call ends
        reason = located(f"recording not ready yet (HTTP {status})", where)
        raise FetchError(reason, retryable=True, retry_after=after, status=status)
    if status in (408, 425, 429) or status >= 500:
        reason = located(f"the recording server answered HTTP {status}", where)
        raise FetchError(reason, retryable=True, retry_after=after, status=status)
    refused = f"the recording server refused it: HTTP {status}; retrying will not help"
    raise FetchError(located(refused, where), retryable=False, status=status)


def _shown(url: httpx.URL, hide: bool) -> str:
    """A redirect target fit for a log line: its origin only when the link is a secret."""
    if hide:
        return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}/..."
    return redact_url(str(url))


def _next_hop(url: httpx.URL, response: httpx.Response, where: str, hide: bool) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        reason = located("redirect without a Location header", where)
        raise FetchError(reason, retryable=False)
    try:
        target = url.join(location)
    except httpx.InvalidURL:
        raise RefusedError("redirect to an invalid URL", url=where) from None
    if url.scheme == "https" and target.scheme != "https":
        reason = f"redirect from https to {_shown(target, hide)} would drop TLS"
        raise RefusedError(reason, url=where)
    return target


async def _save(
    response: httpx.Response, name: str, policy: FetchPolicy, dest_dir: Path, where: str
) -> FetchedFile:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > policy.max_bytes:
        reason = f"the server announces {length} bytes, over the {policy.max_bytes} byte limit"
        raise RefusedError(reason, url=where)
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        # Raw bytes only: inflating gzip would let a small body grow past the limit in memory.
        reason = located("sent compressed despite Accept-Encoding: identity", where)
        raise FetchError(reason, retryable=False)
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    with Spool(dest_dir, policy.max_bytes, where, None) as spool:
        async for chunk in response.aiter_raw(CHUNK):
            spool.add(chunk)
            faults.reach("fetch.body")
        return spool.keep(name, media if _MEDIA_TYPE.fullmatch(media) else None)
