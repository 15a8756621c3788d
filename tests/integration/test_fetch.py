"""RecordingFetcher against real HTTP(S) servers on loopback and real files (R-SSRF-1..5).

The servers listen on 127.0.0.x, which the policy refuses, as it must.  So the tests give
host names to a stub resolver that answers with a public address, and :class:`Fetcher`
overrides only the fetcher's last step, the address it dials, to reach loopback: every
check runs for real.  Loopback refusal itself is tested with the plain fetcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest

from callscribe.connectors import fetch as fetch_module
from callscribe.connectors import spool as spool_module
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.ssrf import IPAddress, RefusedError
from callscribe.errors import FetchError

PUBLIC = "93.184.216.34"  # what the stub DNS answers; never dialled (see Fetcher)
SECRET = "SECRET-c4n4ry"
BODY = os.urandom(200_000)
POLICY = FetchPolicy(schemes={"http"}, hosts={"pbx.test", "other.test"}, total_timeout=20)
Route = Callable[["Handler"], None]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.server.owner
        owner.seen.append(Seen(self.command, self.path, headers, self.rfile.read(length)))
        owner.routes.get(self.path.split("?")[0], status(404))(self)

    def do_POST(self) -> None:
        self.do_GET()

    def send(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
        """Answer; "Connection: close" makes it one request per connection."""
        self.send_response(code)
        for name, value in {"Connection": "close", **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handlers: nothing outlives a test
    owner: Loopback

    def handle_error(self, *_: Any) -> None:  # a client that hangs up is the point
        pass

    def verify_request(self, *_: Any) -> bool:
        self.owner.connections += 1
        return True


class Loopback:
    """A real HTTP server, or HTTPS with ``tls``, on a loopback address, in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.connections = 0
        self.stop = threading.Event()
        self.httpd = Server((host, port), Handler)
        self.httpd.owner = self
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def status(code: int, **headers: str) -> Route:
    return lambda h: h.send(code, {"Content-Length": "0", **headers})


def ok(body: bytes = BODY) -> Route:
    headers = {"Content-Type": "audio/mpeg", "Content-Length": str(len(body))}
    return lambda h: h.send(200, headers, body)


def redirect(location: str) -> Route:
    return status(302, Location=location)


def endless(h: Handler) -> None:
    """200 with no length: bytes until the client hangs up."""
    h.send(200, {"Content-Type": "audio/mpeg"})
    with contextlib.suppress(OSError):  # the client hung up
        while not h.server.owner.stop.is_set():
            h.wfile.write(b"\0" * 65536)


def drip(interval: float) -> Route:
    """Slowloris: one byte every ``interval`` seconds."""

    def route(h: Handler) -> None:
        h.send(200, {"Content-Length": "1000"})
        with contextlib.suppress(OSError):  # the client hung up
            while not h.server.owner.stop.wait(interval):
                h.wfile.write(b"x")
                h.wfile.flush()

    return route


def stall(seconds: float, **headers: str) -> Route:
    """Send ``headers`` at once if any, else nothing, then stay silent."""

    def route(h: Handler) -> None:
        if headers:
            h.send(200, headers)
            h.wfile.flush()
        h.server.owner.stop.wait(seconds)

    return route


class StubResolver:
    """DNS from a table; a list of answers is served in turn, the last one repeats."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.queries.append(host)
        if host == "localhost":  # the real resolver: a real name is checked like any other
            return await fetch_module.SystemResolver().resolve(host, port)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        turns = self.answers[host]
        return [ip_address(a) for a in turns[min(self.queries.count(host), len(turns)) - 1]]


class Fetcher(RecordingFetcher):
    """The real fetcher and policy; only the final dial is redirected to loopback."""

    def __init__(self, dial: dict[str, str], resolver: StubResolver, **kwargs: Any) -> None:
        super().__init__(resolver=resolver, **kwargs)
        self.dial = dial

    def _dial_address(self, address: IPAddress) -> str:
        assert str(address) in self.dial, f"test would dial {address} outside this machine"
        return self.dial[str(address)]


@dataclass
class Env:
    """Two servers (two origins), the fetcher that reaches them, an empty destination."""

    server: Loopback
    other: Loopback
    dest: Path
    caplog: pytest.LogCaptureFixture
    resolver: StubResolver = field(
        default_factory=lambda: StubResolver({"pbx.test": [[PUBLIC]], "other.test": [[PUBLIC]]})
    )
    fetcher: RecordingFetcher = field(init=False)

    def __post_init__(self) -> None:
        self.fetcher = Fetcher({PUBLIC: "127.0.0.1"}, self.resolver)

    def url(self, path: str, host: str = "pbx.test", server: Loopback | None = None) -> str:
        return f"http://{host}:{(server or self.server).port}{path}"

    async def fails(self, url: str, policy: FetchPolicy = POLICY, **kwargs: Any) -> FetchError:
        """Fetch, expect FetchError, and check the promises every failure keeps."""
        fetcher = kwargs.pop("fetcher", self.fetcher)
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(url, policy, self.dest, **kwargs)
        assert list(self.dest.iterdir()) == [], "a failed fetch left files behind"
        assert SECRET not in str(info.value)
        assert SECRET not in self.caplog.text
        return info.value


@pytest.fixture
def env(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    (tmp_path / "dest").mkdir()
    server, other = Loopback(), Loopback()
    yield Env(server, other, tmp_path / "dest", caplog)
    server.close()
    other.close()


async def test_fetches_a_recording(env: Env) -> None:
    env.server.routes["/rec/1.mp3"] = ok()
    got = await env.fetcher.fetch(env.url(f"/rec/1.mp3?t={SECRET}"), POLICY, env.dest)
    assert got.path.read_bytes() == BODY
    assert (got.size, got.sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())
    assert (got.content_type, got.path.suffix) == ("audio/mpeg", ".mp3")
    assert list(env.dest.iterdir()) == [got.path]
    assert env.server.seen[0].headers["host"] == f"pbx.test:{env.server.port}"  # not the IP
    assert env.server.seen[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("allow_private", [False, True])
async def test_loopback_is_refused_by_the_default_policy(env: Env, allow_private: bool) -> None:
    env.server.routes["/rec.mp3"] = ok()
    policy = FetchPolicy(schemes={"http"}, allow_private=allow_private)
    for host in ("127.0.0.1", "localhost", "[::ffff:7f00:1]"):
        url = env.url(f"/rec.mp3?token={SECRET}", host)
        error = await env.fails(url, policy, fetcher=RecordingFetcher())  # real DNS and dial
        assert isinstance(error, RefusedError)
        assert not error.retryable
        assert "is a loopback address" in str(error)
        assert str(error).startswith("refused: ")  # the reason, then the URL minus its query
        assert str(error).endswith(f" — {env.url('/rec.mp3', host)}")
    assert "127.0.0.1 is a loopback address" in env.caplog.text
    assert env.server.connections == 0


async def test_host_not_on_the_allow_list(env: Env) -> None:
    policy = FetchPolicy(schemes={"http"}, hosts={"pbx.test"})
    error = await env.fails(env.url(f"/x?k={SECRET}", "other.test"), policy)
    assert "other.test is not one of this source's recording hosts" in str(error)
    assert env.resolver.queries == []
    assert env.server.connections == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/rec.mp3",
        "http://[::ffff:7f00:1]:{port}/rec.mp3",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://2130706433:{port}/rec.mp3",
        "http://localhost:{port}/rec.mp3",
        "file:///etc/passwd",
        "gopher://pbx.test:{port}/_rec",
    ],
)
async def test_redirect_to_an_internal_target_is_refused(env: Env, target: str) -> None:
    env.server.routes["/start"] = redirect(target.format(port=env.server.port) + f"?s={SECRET}")
    env.server.routes["/rec.mp3"] = ok()
    error = await env.fails(env.url("/start"))
    assert isinstance(error, RefusedError)
    assert [s.path for s in env.server.seen] == ["/start"]
    assert env.server.connections == 1


async def test_more_than_max_redirects_is_refused(env: Env) -> None:
    for i in range(4):
        env.server.routes[f"/r{i}"] = redirect(f"/r{i + 1}" if i < 3 else "/rec.mp3")
    env.server.routes["/rec.mp3"] = ok()
    error = await env.fails(env.url("/r0"))
    assert "more than 3 redirects" in str(error)
    assert [s.path for s in env.server.seen] == ["/r0", "/r1", "/r2", "/r3"]
    got = await env.fetcher.fetch(env.url("/r1"), POLICY, env.dest)  # exactly 3 is fine
    assert got.path.read_bytes() == BODY


async def test_dns_rebinding_cannot_reach_loopback(tmp_path: Path) -> None:
    """Public on the first answer, 127.0.0.1 on the second: the connection goes where the
    checked answer pointed, and the listener on 127.0.0.1 never sees a connection."""
    legit = Loopback("127.0.0.2")
    try:
        attacker = Loopback("127.0.0.1", legit.port)
    except OSError:  # pragma: no cover - the port is taken on 127.0.0.1
        legit.close()
        pytest.skip("no common free port on 127.0.0.1 and 127.0.0.2")
    try:
        legit.routes["/rec.mp3"] = attacker.routes["/rec.mp3"] = ok()
        resolver = StubResolver({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
        fetcher = Fetcher({PUBLIC: "127.0.0.2"}, resolver)
        url, policy = f"http://rebind.test:{legit.port}/rec.mp3", FetchPolicy(schemes={"http"})
        got = await fetcher.fetch(url, policy, tmp_path)
        assert got.path.read_bytes() == BODY
        assert resolver.queries == ["rebind.test"]  # resolved once, then pinned
        assert (legit.connections, attacker.connections) == (1, 0)
        # The next fetch resolves again, gets 127.0.0.1, and is refused before connecting.
        with pytest.raises(RefusedError, match="loopback"):
            await fetcher.fetch(url, policy, tmp_path)
        assert attacker.connections == 0
    finally:
        legit.close()
        attacker.close()


@pytest.mark.parametrize("bad", ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1"])
async def test_one_bad_answer_among_good_ones_refuses_the_name(env: Env, bad: str) -> None:
    env.resolver.answers["pbx.test"] = [[PUBLIC, bad]]
    await env.fails(env.url("/rec.mp3"))
    assert env.server.connections == 0


async def test_endless_body_is_cut_at_the_limit(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real_add = spool_module.Spool.add

    def add(spool: Any, chunk: bytes) -> None:
        sizes.append(spool.size + len(chunk))
        real_add(spool, chunk)

    monkeypatch.setattr(spool_module.Spool, "add", add)
    env.server.routes["/rec.mp3"] = endless
    error = await env.fails(env.url("/rec.mp3"), FetchPolicy(schemes={"http"}, max_bytes=2**20))
    assert "over the 1048576 byte limit" in str(error)
    assert not error.retryable
    assert 2**20 < sizes[-1] <= 2**20 + 64 * 1024  # read no more than limit + 64 KiB


async def test_content_length_over_the_limit_is_refused_before_reading(env: Env) -> None:
    env.server.routes["/rec.mp3"] = stall(10, **{"Content-Length": str(10 * 2**30)})
    started = time.monotonic()
    error = await env.fails(env.url("/rec.mp3"))
    assert "announces 10737418240 bytes" in str(error)
    assert not error.retryable
    assert time.monotonic() - started < 2


async def test_slow_server_is_cut_at_the_total_timeout(env: Env) -> None:
    env.server.routes["/rec.mp3"] = drip(0.1)  # never silent long enough for a read timeout
    policy = FetchPolicy(schemes={"http"}, first_byte_timeout=0.5, total_timeout=1.0)
    started = time.monotonic()
    error = await env.fails(env.url(f"/rec.mp3?t={SECRET}"), policy)
    assert 0.9 < time.monotonic() - started < 3
    assert error.retryable
    assert str(error).startswith("download not finished after 1 s — http://pbx.test:")


async def test_silent_server_is_cut_at_the_first_byte_timeout(env: Env) -> None:
    env.server.routes["/rec.mp3"] = stall(5)
    policy = FetchPolicy(schemes={"http"}, first_byte_timeout=0.3, total_timeout=10)
    started = time.monotonic()
    error = await env.fails(env.url("/rec.mp3"), policy)
    assert time.monotonic() - started < 2
    assert error.retryable
    assert "ReadTimeout" in str(error)


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (status(404), (True, None)),
        (status(410), (True, None)),
        (status(403), (False, None)),
        (status(401), (False, None)),
        (status(400), (False, None)),
        (status(429, **{"Retry-After": "120"}), (True, 120.0)),
        (status(503, **{"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}), (True, 0.0)),
        (status(500), (True, None)),
        (status(408), (True, None)),
        (status(302), (False, None)),  # a redirect without Location
    ],
)
async def test_http_errors(env: Env, route: Route, expected: tuple[bool, float | None]) -> None:
    env.server.routes["/rec.mp3"] = route
    error = await env.fails(env.url(f"/rec.mp3?token={SECRET}"))
    assert (error.retryable, error.retry_after) == expected
    assert env.url("/rec.mp3") in str(error)


async def test_connection_refused_is_retryable(env: Env) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await env.fails(f"http://pbx.test:{port}/rec.mp3?token={SECRET}")
    assert error.retryable
    assert "ConnectError" in str(error)


async def test_credentials_go_to_the_first_request_only(env: Env) -> None:
    def calltouch(request: httpx.Request) -> httpx.Request:
        request.url = request.url.copy_merge_params({"clientApiId": SECRET})
        request.headers["Authorization"] = f"Basic {SECRET}"
        return request

    env.server.routes["/download"] = redirect(env.url("/file.mp3", "other.test", env.other))
    env.other.routes["/file.mp3"] = ok()
    got = await env.fetcher.fetch(env.url("/download"), POLICY, env.dest, auth=calltouch)
    assert got.path.read_bytes() == BODY
    [first], [second] = env.server.seen, env.other.seen
    assert first.headers["authorization"] == f"Basic {SECRET}"
    assert SECRET in first.path
    assert "authorization" not in second.headers
    assert SECRET not in second.path


async def test_a_signed_post_is_followed_by_a_plain_get(env: Env) -> None:
    def mango(request: httpx.Request) -> httpx.Request:
        form = {"vpbx_api_key": SECRET, "sign": "0" * 64, "json": '{"recording_id":"x"}'}
        return httpx.Request("POST", request.url, headers=request.headers, data=form)

    env.server.routes["/vpbx/queries/recording/post"] = redirect(
        env.url("/r", "other.test", env.other)
    )
    env.other.routes["/r"] = ok()
    await env.fetcher.fetch(env.url("/vpbx/queries/recording/post"), POLICY, env.dest, auth=mango)
    assert env.server.seen[0].method == "POST"
    assert SECRET.encode() in env.server.seen[0].body
    assert (env.other.seen[0].method, env.other.seen[0].body) == ("GET", b"")


async def test_an_auth_hook_cannot_change_the_origin(env: Env) -> None:
    def sneaky(request: httpx.Request) -> httpx.Request:
        return httpx.Request("GET", env.url("/x", "other.test"))

    error = await env.fails(env.url("/x"), auth=sneaky)
    assert "changed the origin" in str(error)
    assert env.server.connections == 0


async def test_compressed_responses_are_refused(env: Env) -> None:
    env.server.routes["/rec.mp3"] = lambda h: h.send(
        200, {"Content-Encoding": "gzip", "Content-Length": "4"}, b"\x1f\x8b\0\0"
    )
    assert "compressed" in str(await env.fails(env.url("/rec.mp3")))


# --- HTTPS: pinning keeps SNI and certificate checks for the name --------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a self-signed pbx.test certificate."""
    if shutil.which("openssl") is None:  # pragma: no cover
        pytest.skip("needs the openssl command to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=pbx.test", "-addext", "subjectAltName=DNS:pbx.test",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def https(env: Env, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[Loopback]:
    """An HTTPS server for pbx.test; ``env.fetcher`` trusts its certificate."""
    env.fetcher = Fetcher({PUBLIC: "127.0.0.1"}, env.resolver, ssl_context=tls[1])
    srv = Loopback(tls=tls[0])
    yield srv
    srv.close()


async def test_https_through_a_pinned_address(env: Env, https: Loopback) -> None:
    https.routes["/rec.mp3"] = ok()
    url = f"https://pbx.test:{https.port}/rec.mp3"
    assert (await env.fetcher.fetch(url, FetchPolicy(), env.dest)).path.read_bytes() == BODY


async def test_https_certificate_is_checked_for_the_name(env: Env, https: Loopback) -> None:
    https.routes["/rec.mp3"] = ok()
    error = await env.fails(f"https://other.test:{https.port}/rec.mp3?t={SECRET}", FetchPolicy())
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert https.seen == []


async def test_https_to_http_downgrade_is_refused(env: Env, https: Loopback) -> None:
    https.routes["/rec.mp3"] = redirect(env.url(f"/rec.mp3?sig={SECRET}"))
    env.server.routes["/rec.mp3"] = ok()
    policy = FetchPolicy(schemes={"http", "https"})
    error = await env.fails(f"https://pbx.test:{https.port}/rec.mp3", policy)
    assert "would drop TLS" in str(error)
    assert env.server.connections == 0


# --- Local files (Asterisk's spool) ---------------------------------------------------------


@pytest.fixture
def spool(env: Env, tmp_path: Path) -> Path:
    (tmp_path / "spool" / "monitor").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.wav").write_bytes(b"not yours")
    (tmp_path / "spool" / "monitor" / "call.wav").write_bytes(BODY)
    env.fetcher = RecordingFetcher()
    return tmp_path / "spool"


@pytest.mark.parametrize("as_url", [False, True])
async def test_local_file_inside_the_allow_list(env: Env, spool: Path, as_url: bool) -> None:
    source = spool / "monitor" / "call.wav"
    location = source.as_uri() if as_url else str(source)
    got = await env.fetcher.fetch(location, FetchPolicy(local_dirs={spool}), env.dest)
    assert got.path.read_bytes() == BODY
    assert (got.sha256, got.path.suffix) == (hashlib.sha256(BODY).hexdigest(), ".wav")
    assert got.path.stat().st_ino == source.stat().st_ino  # same filesystem: a hardlink
    assert list(env.dest.iterdir()) == [got.path]


async def test_local_file_is_copied_when_it_cannot_be_linked(
    env: Env, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(*_: Any, **__: Any) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    source = spool / "monitor" / "call.wav"
    got = await env.fetcher.fetch(str(source), FetchPolicy(local_dirs={spool}), env.dest)
    assert got.path.read_bytes() == BODY
    assert got.path.stat().st_ino != source.stat().st_ino


def _symlink(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda s: s.parent / "outside" / "secret.wav", "outside the directories"),
        (lambda s: s / "monitor/../../outside/secret.wav", "outside the directories"),
        (lambda s: _symlink(s / "monitor/a.wav", s.parent / "outside/secret.wav"), "outside"),
        (lambda s: _symlink(s / "monitor/d", s.parent / "outside") / "secret.wav", "outside"),
        (lambda s: s / "monitor", "not a regular file"),
        (lambda s: _fifo(s / "monitor" / "pipe.wav"), "not a regular file"),  # and no hang
    ],
)
async def test_local_refusals(
    env: Env, spool: Path, make: Callable[[Path], Path], words: str
) -> None:
    error = await env.fails(str(make(spool)), FetchPolicy(local_dirs={spool}))
    assert isinstance(error, RefusedError)
    assert words in str(error)


async def test_local_file_over_the_limit(env: Env, spool: Path) -> None:
    policy = FetchPolicy(local_dirs={spool}, max_bytes=1000)
    error = await env.fails(str(spool / "monitor" / "call.wav"), policy)
    assert "over the limit" in str(error)


async def test_missing_local_file_is_retryable(env: Env, spool: Path) -> None:
    error = await env.fails(str(spool / "monitor" / "not-yet.wav"), FetchPolicy(local_dirs={spool}))
    assert error.retryable
    assert "no such file" in str(error)


async def test_dest_dir_is_created_and_write_failures_are_fetch_errors(env: Env) -> None:
    env.server.routes["/rec.mp3"] = ok()
    got = await env.fetcher.fetch(env.url("/rec.mp3"), POLICY, env.dest / "call-1")
    assert got.path.parent == env.dest / "call-1"
    (env.dest / "not-a-dir").write_bytes(b"")
    with pytest.raises(FetchError) as info:
        await env.fetcher.fetch(env.url(f"/rec.mp3?t={SECRET}"), POLICY, env.dest / "not-a-dir")
    assert info.value.retryable
    assert "cannot store the recording" in str(info.value)
    assert SECRET not in str(info.value)
