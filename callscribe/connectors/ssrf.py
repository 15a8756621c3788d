"""Where a recording may come from: URLs, hosts, addresses, local paths (R-SSRF-1..4).

Recording URLs arrive in webhooks and are hostile input: whoever can post a webhook (or
forge one) picks the address callscribe connects to.  This module decides, without any
I/O, whether a URL, a host spelling and an address are acceptable, and provides the
transport that connects only to an address that was checked; :mod:`.fetch` applies them
to every address a name resolves to and to every redirect hop.  Local paths (Asterisk's
spool) are confined to allowed directories by :func:`open_inside`.

Python's ``ipaddress`` alone is not enough: ``is_global`` is True for
``::ffff:0:127.0.0.1``, ``64:ff9b::a9fe:a9fe`` and ``2002:a9fe:a9fe::``, which all reach
a private IPv4 address through a translation mechanism.  :func:`check_address` therefore
unwraps every IPv6 form that embeds an IPv4 address before it looks at ranges.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Collection
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from callscribe.errors import FetchError, located

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class RefusedError(FetchError):
    """The recording location is not allowed by the source's fetch policy."""

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        """``url`` must already be redacted (:func:`redact_url`)."""
        self.reason = reason
        message = f"refused: {reason}"
        # A refusal is a decision, not an accident: trying again gives the same answer.
        super().__init__(located(message, url) if url else message, retryable=False)


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((IPv4Network(n) if ":" not in n else IPv6Network(n), what) for n, what in pairs)


# Never reachable, even for a source with allow_private: loopback reaches the daemon's own
# ports (its webhook server, the database, Asterisk AMI on 5038), 0.0.0.0 is loopback on
# Linux, 169.254.169.254 is the cloud metadata service that hands out instance credentials,
# and nothing that serves a recording lives at a multicast or reserved address.
_NEVER = _nets(
    ("0.0.0.0/8", "a 'this network' address (it reaches this machine)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (the cloud metadata service lives there)"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address (it reaches this machine)"),
    ("::1/128", "a loopback address"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
    # Local-use NAT64 (RFC 8215): the embedded IPv4 address depends on the operator's
    # prefix length, so it cannot be unwrapped and checked.
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
)
# The LAN: an on-premises PBX lives here, so a source may opt in with allow_private.
_PRIVATE = _nets(
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("fc00::/7", "a unique-local (private) address"),
    ("fec0::/10", "a site-local (private) address"),
)
# Special-purpose ranges that no recording server lives in; `is_global` misses part of them.
_SPECIAL = _nets(
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("198.18.0.0/15", "a benchmarking address"),
)
_NAT64 = IPv6Network("64:ff9b::/96")
_TRANSLATED = 0xFFFF0000  # ::ffff:0:a.b.c.d (SIIT, RFC 2765): the top 96 bits

_NOT_PUBLIC = "recordings are only fetched from public addresses"
_HINT_PRIVATE = f"{_NOT_PUBLIC} unless the source sets allow_private"
_HINT_NEVER = "callscribe never connects there, even for a source with allow_private"


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition form carries, or ``ip`` itself."""
    if isinstance(ip, IPv4Address):
        return ip
    value = int(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:0:0/96
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002::/16
        return ip.sixtofour
    if value >> 32 == _TRANSLATED or ip in _NAT64:  # ::ffff:0:0:0/96, 64:ff9b::/96
        return IPv4Address(value & 0xFFFFFFFF)
    if 1 < value < 1 << 32:  # IPv4-compatible ::a.b.c.d; :: and ::1 are themselves
        return IPv4Address(value)
    return ip


def check_address(ip: IPAddress, *, allow_private: bool = False) -> None:
    """Return if ``ip`` may be connected to; raise :class:`RefusedError` with the reason if not."""
    inner = unwrap(ip)
    shown = str(ip) if inner == ip else f"{ip} (which embeds {inner})"
    for table, hint in ((_NEVER, _HINT_NEVER), (_SPECIAL, _NOT_PUBLIC), (_PRIVATE, None)):
        for net, what in table:
            if inner.version == net.version and inner in net:
                if hint is None and allow_private:
                    return
                raise RefusedError(f"{shown} is {what}; {hint or _HINT_PRIVATE}")
    if not inner.is_global:
        raise RefusedError(f"{shown} is not a public address; {_NOT_PUBLIC}")


# inet_aton() - and so getaddrinfo() - reads "2130706433", "0177.0.0.1", "0x7f.1" and
# "127.1" as 127.0.0.1.  No real top-level domain is numeric, so a name whose last label
# is a number is an IPv4 address in disguise; refuse it instead of letting a resolver
# guess (WHATWG URL does the same).
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def parse_host(host: str) -> IPAddress | str:
    """An IP address, or a host name in lower-case ASCII (IDNA) without a trailing dot.

    Raise :class:`RefusedError` for anything else, including decimal, octal, hex or
    shortened IPv4 spellings and IPv6 zone ids.
    """
    text = host.lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" not in text:  # a zone id or percent-encoding has no business in a URL host
        try:
            return ip_address(text)
        except ValueError:
            pass
    name = text.removesuffix(".")
    labels = name.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        raise RefusedError(
            f"{host[:100]!r} is an IPv4 address in a non-standard spelling (decimal, octal, hex "
            "or shortened); write the address as four decimal numbers"
        )
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise RefusedError(f"{host[:100]!r} is not a valid host name")
    return name


def host_allowed(host: str, patterns: Collection[str]) -> bool:
    """Whether ``host`` matches an allow-list entry: a name, an address, or ``*.suffix``.

    ``*.example.com`` matches every name under example.com but not example.com itself.
    An empty allow-list matches nothing; the caller decides what empty means.
    """
    return any(
        host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern
        for pattern in patterns
    )


def check_url(url: httpx.URL, schemes: Collection[str], hosts: Collection[str]) -> IPAddress | str:
    """Check one hop's URL before any I/O and return its host (see :func:`parse_host`).

    The scheme must be in ``schemes``; ``user:password@`` is refused (it hides the real
    host from a human reader and would send credentials); a non-empty ``hosts`` is an
    allow-list for :func:`host_allowed`.
    """
    if url.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise RefusedError(f"scheme {url.scheme!r} is not allowed for this source (only {allowed})")
    if url.userinfo:
        raise RefusedError("user:password@ is not accepted in a recording URL")
    host = parse_host(url.raw_host.decode("ascii"))
    if hosts and not host_allowed(str(host), hosts):
        raise RefusedError(f"{host} is not one of this source's recording hosts")
    return host


def origin(url: httpx.URL) -> tuple[str, str, int]:
    """Scheme, host and port (defaulted): what must match for credentials to be sent."""
    return url.scheme, url.raw_host.decode("ascii"), url.port or {"https": 443}.get(url.scheme, 80)


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends requests for one origin to one address that passed :func:`check_address`.

    The request keeps its URL's name in the Host header (httpx sets it when the request is
    built) and the name goes to TLS as ``sni_hostname``, a documented httpcore request
    extension, so SNI and certificate verification are for the name.  Only the TCP target
    is rewritten, to the checked address: nothing below this point resolves the name
    again, which is what defeats DNS rebinding.  A request for another origin is refused.
    """

    def __init__(
        self, url: httpx.URL, address: str, ssl_context: ssl.SSLContext, *, sni: str | None
    ) -> None:
        self._origin, self._address, self._sni = origin(url), address, sni
        self._inner = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the pinned address."""
        if origin(request.url) != self._origin:
            raise httpx.ConnectError("not the pinned origin", request=request)
        extensions = dict(request.extensions)
        if self._sni:
            extensions["sni_hostname"] = self._sni
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=self._address),
            headers=request.headers,  # Host: the name, not the address
            stream=request.stream,
            extensions=extensions,
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._inner.aclose()


def redact_url(location: str, limit: int = 200) -> str:
    """``location`` fit for a log line or an error message (R-SEC-2, R-SEC-3).

    Drops the query string and fragment (signed URLs carry tokens there) and any
    ``user:password@``, escapes control characters and bounds the length.  Works on
    unparseable input too, because that is what a hostile webhook sends.
    """
    scheme, sep, rest = location.partition("://")
    if sep:  # drop user:password@ first: a password may contain "?" or "#"
        authority, slash, path = rest.partition("/")
        location = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    text = re.split(r"[?#]", location, maxsplit=1)[0]
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def local_path(location: str) -> Path:
    """The absolute path an absolute path or a ``file:///path`` URL names (no I/O)."""
    path = Path(location)
    if not location.startswith("/"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise RefusedError("only file:///absolute/path URLs", url=redact_url(location))
        path = Path(unquote(parts.path))
    if not path.is_absolute() or "\x00" in str(path):
        raise RefusedError("a local recording needs an absolute path", url=redact_url(location))
    return path


def open_inside(path: Path, roots: Collection[Path]) -> tuple[int, Path]:
    """Open ``path`` read-only if it really lies inside one of ``roots``: (fd, real path).

    ``resolve`` removes symlinks and ``..``; the file is then opened component by component
    from the root with O_NOFOLLOW, so a directory swapped for a symlink after the check
    fails to open instead of leading outside.  O_NONBLOCK keeps a FIFO from hanging the
    open (``fstat`` rejects it next).
    """
    real = path.resolve(strict=True)
    base = next((r.resolve() for r in roots if real.is_relative_to(r.resolve())), None)
    if base is None:
        where = redact_url(str(path))
        raise RefusedError(f"{where} is outside the directories this source may read")
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = real.relative_to(base).parts
        for i, part in enumerate(parts):
            kind = os.O_NONBLOCK if i == len(parts) - 1 else os.O_DIRECTORY
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | kind
            fd, parent = os.open(part, flags, dir_fd=fd), fd
            os.close(parent)
    except BaseException:
        os.close(fd)
        raise
    return fd, real
