"""The address and URL policy for recording downloads (R-SSRF-1..3), without any server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest

from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.ssrf import (
    IPAddress,
    RefusedError,
    check_address,
    check_url,
    host_allowed,
    local_path,
    parse_host,
    redact_url,
    unwrap,
)

# Every one of these must be refused under the default policy (R-SSRF-3 asks for >= 30).
REFUSED = [
    # IPv4 deny list, both ends of ranges where it matters
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",  # noqa: S104
    "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1",
    "172.31.255.255", "192.0.0.1", "192.0.0.9", "192.168.1.1", "198.18.0.1",
    "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.2.1", "198.51.100.1", "203.0.113.1",
    # IPv6 deny list
    "::", "::1", "[::1]", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "fec0::1",
    "2001:db8::1", "100::1", "2001::1",
    # IPv4 hidden in IPv6 transition forms; Python says is_global for several of them
    "::ffff:127.0.0.1", "[::ffff:7f00:1]", "::ffff:0:127.0.0.1", "::ffff:169.254.169.254",
    "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b::a00:1",
    "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::", "2002:7f00:1::", "2002:c0a8:101::1",
    "::127.0.0.1", "::a9fe:a9fe",
    # IPv4 spellings that inet_aton() (and so getaddrinfo) reads as internal addresses
    "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "0x7f.0.0.1", "127.1",
    "017700000001", "127.0.0.1.", "3232235777", "0xa9fea9fe", "0251.0376.0251.0376",
    "fe80::1%eth0",
]  # fmt: skip

PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
LAN = ["10.0.0.1", "172.16.5.4", "192.168.1.10", "100.64.0.1", "fd00::1", "::ffff:192.168.1.10"]
NEVER = ["127.0.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "ff02::1",  # noqa: S104
         "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"]  # fmt: skip


def check(spelling: str, *, allow_private: bool = False) -> None:
    """What the fetcher does with a URL's host before any connection."""
    host = parse_host(spelling)
    assert not isinstance(host, str), f"{spelling!r} was taken for a host name"
    check_address(host, allow_private=allow_private)


def test_the_table_is_big_enough() -> None:
    assert len(REFUSED) >= 30
    assert len(set(REFUSED)) == len(REFUSED)


@pytest.mark.parametrize("spelling", REFUSED)
def test_every_internal_address_is_refused(spelling: str) -> None:
    with pytest.raises(RefusedError) as info:
        check(spelling)
    assert info.value.retryable is False
    assert str(info.value).startswith("refused: ")


@pytest.mark.parametrize(
    ("spelling", "words"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("169.254.169.254", "cloud metadata"),
        ("::ffff:0:127.0.0.1", "embeds 127.0.0.1) is a loopback address"),
        ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254) is a link-local address"),
        ("2002:a9fe:a9fe::", "embeds 169.254.169.254) is a link-local address"),
        ("10.0.0.1", "unless the source sets allow_private"),
        ("2130706433", "non-standard spelling"),
    ],
)
def test_refusals_say_why(spelling: str, words: str) -> None:
    with pytest.raises(RefusedError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check(spelling)


@pytest.mark.parametrize("spelling", PUBLIC)
def test_public_addresses_pass(spelling: str) -> None:
    check(spelling)


@pytest.mark.parametrize("spelling", LAN)
def test_allow_private_admits_the_lan(spelling: str) -> None:
    with pytest.raises(RefusedError):
        check(spelling)
    check(spelling, allow_private=True)


@pytest.mark.parametrize("spelling", NEVER)
def test_allow_private_never_admits_loopback_link_local_or_multicast(spelling: str) -> None:
    with pytest.raises(RefusedError, match="even for a source with allow_private"):
        check(spelling, allow_private=True)


@pytest.mark.parametrize(
    ("wrapped", "inner"),
    [
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::ffff:0:a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        ("::7f00:1", "127.0.0.1"),
        ("2606:4700::1", "2606:4700::1"),
        ("::1", "::1"),
    ],
)
def test_unwrap(wrapped: str, inner: str) -> None:
    address: IPAddress = ip_address(wrapped)
    assert unwrap(address) == ip_address(inner)


@pytest.mark.parametrize(
    ("host", "parsed"),
    [
        ("Example.COM.", "example.com"),
        ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
        ("files.mango-office.ru", "files.mango-office.ru"),
        ("1.2.3.4", ip_address("1.2.3.4")),
        ("[2606:4700::1]", ip_address("2606:4700::1")),
    ],
)
def test_parse_host(host: str, parsed: object) -> None:
    assert parse_host(host) == parsed


@pytest.mark.parametrize("host", ["", "a..b", "-a.example", "a b.example", "%31.0.0.1", "x" * 300])
def test_parse_host_refuses_garbage(host: str) -> None:
    with pytest.raises(RefusedError):
        parse_host(host)


def test_host_allow_list() -> None:
    hosts = {"files.mango-office.ru", "*.uiscom.ru", "192.168.1.10"}
    assert host_allowed("files.mango-office.ru", hosts)
    assert host_allowed("media.uiscom.ru", hosts)
    assert host_allowed("a.b.uiscom.ru", hosts)
    assert host_allowed("192.168.1.10", hosts)
    assert not host_allowed("uiscom.ru", hosts)  # *.x is for names under x only
    assert not host_allowed("eviluiscom.ru", hosts)
    assert not host_allowed("files.mango-office.ru.evil.example", hosts)
    assert not host_allowed("anything.example", set())


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://files.example/rec.mp3", "scheme 'http' is not allowed"),
        ("https://user:pw@files.example/rec.mp3", "user:password@"),
        ("https://evil.example/rec.mp3", "not one of this source's recording hosts"),
        ("https://0x7f.1/rec.mp3", "non-standard spelling"),
    ],
)
def test_check_url(url: str, words: str) -> None:
    with pytest.raises(RefusedError, match=words):
        check_url(httpx.URL(url), {"https"}, {"files.example", "0x7f.1"})


def test_redact_url() -> None:
    url = "https://user:p?ss@files.example:8443/rec/1.mp3?token=SECRET&sig=SECRET#SECRET"
    assert redact_url(url) == "https://files.example:8443/rec/1.mp3"
    assert redact_url("https://x.example/a\r\nFAKE ENTRY?t=SECRET") == (
        "https://x.example/a\\r\\nFAKE ENTRY"
    )
    assert len(redact_url("https://x.example/" + "a" * 1000)) <= 203
    assert redact_url("not a url?token=SECRET") == "not a url"


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("/var/spool/asterisk/monitor/a.wav", "/var/spool/asterisk/monitor/a.wav"),
        ("file:///var/spool/a%20b.wav", "/var/spool/a b.wav"),
        ("file://localhost/var/spool/a.wav", "/var/spool/a.wav"),
    ],
)
def test_local_path(location: str, path: str) -> None:
    assert local_path(location) == Path(path)


@pytest.mark.parametrize("location", ["file://host/x.wav", "file:x.wav", "file:///x%00.wav"])
def test_local_path_refusals(location: str) -> None:
    with pytest.raises(RefusedError):
        local_path(location)


# R-SSRF-1: refused schemes cause no network and no file I/O at all.  An audit hook sees
# every open(), socket and DNS call the interpreter makes while the fetch runs.
_WATCHED = ("open", "os.", "shutil.", "socket.", "subprocess.", "http.", "urllib.")
_events: list[str] | None = None


def _audit(event: str, _args: tuple[object, ...]) -> None:
    if _events is not None and event.startswith(_WATCHED):
        _events.append(event)


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one is idle outside the test


@pytest.fixture
def io_events() -> Iterator[list[str]]:
    global _events  # noqa: PLW0603 - the audit hook is process-wide by design
    _events = []
    try:
        yield _events
    finally:
        _events = None


class CountingResolver:
    """Counts lookups and answers none: nothing here may ever connect anywhere."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.calls += 1
        raise AssertionError(f"{host} was looked up for a location that must be refused")


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "/etc/passwd",
        "ftp://files.example/rec.mp3",
        "gopher://files.example:70/_GET%20/",
        "data:audio/mpeg;base64,SUQzBAAAAAAAI1RTU0UAAAA=",
        "dict://files.example:11211/stat",
        "http://files.example/rec.mp3",  # http is not in the default policy
    ],
)
async def test_refused_schemes_do_no_io(
    location: str, tmp_path: Path, io_events: list[str]
) -> None:
    resolver = CountingResolver()
    fetcher = RecordingFetcher(resolver=resolver)
    policy = FetchPolicy()
    io_events.clear()  # building the fetcher loaded CA certificates; that is not the fetch
    with pytest.raises(RefusedError):
        await fetcher.fetch(location, policy, tmp_path)
    assert io_events == []
    assert resolver.calls == 0
    assert list(tmp_path.iterdir()) == []


def test_policy_validates_and_normalises() -> None:
    policy = FetchPolicy(schemes={"http"}, hosts={"Files.Example."}, local_dirs={Path("/x")})
    assert policy.schemes == frozenset({"http"})
    assert policy.hosts == frozenset({"files.example"})
    assert policy.local_dirs == frozenset({Path("/x")})
    with pytest.raises(ValueError, match="schemes"):
        FetchPolicy(schemes={"ftp"})
