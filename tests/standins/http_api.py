"""Any HTTP API: records every request byte for byte and answers ``answers`` (status
codes, in order) before 200 with ``reply`` as JSON."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from callscribe.testing import _Server


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ApiServer(_Server):
    def __init__(self, answers: list[int] | None = None, reply: Any = None) -> None:
        self.answers = list(answers or [])
        self.reply = {"id": "remote-1"} if reply is None else reply
        self.received: list[Received] = []
        self.lock = threading.Lock()
        super().__init__(_Handler)

    def check(self, request: Received) -> tuple[int, str] | None:
        """A refusal (status, reason) for a request the API would not take; None: fine."""
        return None


class _Handler(BaseHTTPRequestHandler):
    def _any(self) -> None:
        server: ApiServer = self.server.owner  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        request = Received(
            self.command,
            path,
            urllib.parse.parse_qsl(query, keep_blank_values=True),
            query,
            {name.lower(): value for name, value in self.headers.items()},
            self.rfile.read(int(self.headers.get("content-length", "0"))),
        )
        refusal = server.check(request)
        with server.lock:
            status = server.answers.pop(0) if server.answers else 200
            if refusal is None and status == 200:
                server.received.append(request)
        status, text = refusal or (status, json.dumps(server.reply))
        payload = text.encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815 - http.server names

    def log_message(self, *_: Any) -> None:
        pass
