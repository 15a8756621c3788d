"""What the helpdesk stand-ins (Qolio, Usedesk, Okdesk) share: a loopback HTTP server that
records every request byte for byte, answers from the platform's ``route``, and can be
told to misbehave the way a real platform does:

- ``fail_next``: answer the next matching requests with an error (500, 429 with
  ``Retry-After``) without doing anything;
- ``drop_after``: do the work of the next matching request, then close the connection
  without an answer (the platform succeeded, callscribe never heard);
- ``hold_after``: do the work, then keep the answer until ``release`` (so a test can kill
  callscribe between the platform's success and callscribe's commit).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from callscribe.testing import _Server


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    raw_query: str  # exactly as sent: Okdesk needs "+" as %2B
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        # As a Rails server reads it: "+" is a space, so an unencoded "+7…" is " 7…".
        return {k: v[0] for k, v in parse_qs(self.raw_query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Trap:
    method: str
    path: str  # a regular expression matching the start of the request path
    times: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def matches(self, request: Received) -> bool:
        return request.method == self.method and re.match(self.path, request.path) is not None


class Answer(Exception):  # noqa: N818 - raised by routes to answer early
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class HelpdeskStandIn(_Server):
    #: The sink type, and the setting its token goes in.
    sink_type = ""
    token_setting = "api_token"
    token: str

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.RLock()
        self._failures: list[_Trap] = []
        self._drops: list[_Trap] = []
        self._holds: list[_Trap] = []
        self._released = threading.Event()
        self.held = threading.Event()  # set once an answer is being held
        super().__init__(_Handler)
        # A quicker shutdown than serve_forever's default half-second poll: many tests.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def sink_url(self) -> str:
        return self.url

    def sink_config(self, name: str) -> str:
        """The ``[sinks.NAME]`` table pointing callscribe at this stand-in (a test adds its
        own settings below it)."""
        return (
            f'[sinks.{name}]\ntype = "{self.sink_type}"\nurl = "{self.sink_url}"\n'
            f'{self.token_setting} = "{self.token}"'
        )

    def route(self, request: Received) -> tuple[int, Any]:
        """Do what the request asks; (status, JSON body).  Raise :class:`Answer` to refuse."""
        raise NotImplementedError

    def fail_next(
        self,
        status: int,
        *,
        method: str = "POST",
        path: str = "/",
        times: int = 1,
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        headers = {**(headers or {}), **({"retry-after": retry_after} if retry_after else {})}
        trap = _Trap(method, path, times, status, headers, body or {"error": "stand-in failure"})
        with self.lock:
            self._failures.append(trap)

    def drop_after(self, method: str, path: str, times: int = 1) -> None:
        with self.lock:
            self._drops.append(_Trap(method, path, times))

    def hold_after(self, method: str, path: str) -> None:
        self._released.clear()
        self.held.clear()
        with self.lock:
            self._holds.append(_Trap(method, path, 1))

    def release(self) -> None:
        self._released.set()

    def requests(self, method: str, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == method and re.match(path, r.path)]

    def _take(self, traps: list[_Trap], request: Received) -> _Trap | None:
        for trap in traps:
            if trap.matches(request):
                trap.times -= 1
                if trap.times <= 0:
                    traps.remove(trap)
                return trap
        return None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        server: HelpdeskStandIn = self.server.owner  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Received(self.command, url.path, url.query, headers, body)
        with server.lock:
            server.received.append(request)
            failure = server._take(server._failures, request)
            if failure is not None:
                self._answer(failure.status, failure.body, failure.headers)
                return
            try:
                status, payload = server.route(request)
            except Answer as answer:
                status, payload = answer.status, answer.body
            dropped = server._take(server._drops, request) is not None
            held = server._take(server._holds, request) is not None
        if dropped:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if held:
            server.held.set()
            server._released.wait(120)
        with contextlib.suppress(OSError):  # the client is gone (killed while held)
            self._answer(status, payload, {})

    def _answer(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass
