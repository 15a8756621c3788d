"""Mango Office's VPBX API on loopback, written from "API Mango Office v1.9".

What it does as documented:

- every request is a form (``vpbx_api_key``, ``sign``, ``json``) signed
  ``sha256_hex(key + json + salt)``; anything else is an invalid request (result 3xxx);
- invalid requests: one per ``invalid_window`` seconds is answered with its result code;
  the next one gets 401 and blocks the API until ``block_seconds`` after the first (§1.4.1);
- ``queries/recording/post`` ({"recording_id", "action": "download"}) answers 302 to a
  single-use link under ``/files/``: the first GET gets the audio, a second 410 (§3.5.1);
  a recording may be "not found" (3320) for its first ``not_ready_first`` requests;
- more than ``max_per_second`` recording requests in a second: 429 with Mango's body
  (§1.4.2);
- ``stats/request`` answers a key (429 when asked again within ``stats_interval``);
  ``stats/result`` answers 204 ``stats_not_ready`` times, then the rows as ";"-separated
  lines in the order of the fields asked (§3.4.1).

``invalid_status`` is the HTTP status of an invalid request's answer: the documentation
does not say it plainly (it lists "2xx: invalid request" and "4xx: wrong parameters"), so
tests run both 200 and 400.  Everything it received is in ``requests``; ``file_status``
makes the file host fail, ``link_base`` sends links elsewhere and ``stats_extra_lines``
adds rows to the statistics.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode

from callscribe.testing import _Server

RATE_LIMITED = {
    "name": "Service Unavailable",
    "message": "Rate limit exceeded.",
    "code": 0,
    "status": 429,
}


def mango_sign(api_key: str, json_text: str, salt: str) -> str:
    """Written here from the documentation, apart from callscribe's own."""
    return hashlib.sha256(f"{api_key}{json_text}{salt}".encode()).hexdigest()


def signed_form(api_key: str, salt: str, payload: dict[str, Any] | str) -> bytes:
    """A form body as Mango sends it (and expects it)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    fields = {"vpbx_api_key": api_key, "sign": mango_sign(api_key, text, salt), "json": text}
    return urlencode(fields).encode()


@dataclass
class Seen:
    at: float  # time.monotonic()
    path: str
    status: int
    payload: dict[str, Any] | None


@dataclass
class StatsCall:
    """One row of the call statistics, by field name (records as a list)."""

    values: dict[str, str]
    records: list[str] = field(default_factory=list)

    def line(self, fields: list[str]) -> str:
        def value(name: str) -> str:
            if name == "records":
                return f"[{','.join(self.records)}]" if self.records else ""
            return self.values.get(name, "")

        return ";".join(value(name) for name in fields)


class MangoStandIn(_Server):
    def __init__(
        self,
        api_key: str,
        salt: str,
        *,
        not_ready_first: int = 0,
        invalid_window: float = 120.0,
        block_seconds: float = 120.0,
        invalid_status: int = 400,
        max_per_second: int = 10,
        stats_not_ready: int = 1,
        stats_interval: float = 2.0,
    ) -> None:
        self.api_key, self.salt = api_key, salt
        self.not_ready_first = not_ready_first
        self.invalid_window, self.block_seconds = invalid_window, block_seconds
        self.invalid_status = invalid_status
        self.max_per_second = max_per_second
        self.stats_not_ready, self.stats_interval = stats_not_ready, stats_interval
        self.recordings: dict[str, bytes] = {}
        self.calls: list[StatsCall] = []
        self.requests: list[Seen] = []
        self.links: dict[str, str] = {}  # token -> recording id; every link ever issued
        self.downloads: list[str] = []  # tokens, per GET
        self.blocks = 0
        self.file_status: int | None = None  # set to make the file host fail (say 503)
        self.stats_extra_lines: list[str] = []  # appended to every statistics answer
        self.link_base: str | None = None  # where links point instead of this server
        self._asked: dict[str, int] = {}
        self._first_invalid: float | None = None
        self._blocked_until = 0.0
        self._used: set[str] = set()
        self._reports: dict[str, tuple[int, int, list[str]]] = {}
        self._polls: dict[str, int] = {}
        self._last_stats = -1e9
        self.lock = threading.Lock()
        super().__init__(_Handler)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/vpbx/"

    def webhook(self, payload: dict[str, Any] | str) -> bytes:
        """A notification body, signed as Mango signs it."""
        return signed_form(self.api_key, self.salt, payload)

    def block(self, seconds: float) -> None:
        """Block the API as after two invalid requests."""
        with self.lock:
            self._blocked_until = time.monotonic() + seconds

    def seen(self, path: str) -> list[Seen]:
        return [s for s in self.requests if s.path == path]

    # Answers, called by the handler under the lock -----------------------------------

    def answer_api(
        self, path: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        now = time.monotonic()
        if now < self._blocked_until:
            return self._json(401, {"result": 3000, "message": "blocked"})
        payload = self._authentic(content_type, body)
        if payload is None:
            return self._invalid(3102, now)
        if path == "queries/recording/post":
            return self._recording(payload, now)
        if path == "stats/request":
            return self._stats_request(payload, now)
        if path == "stats/result":
            return self._stats_result(payload)
        return self._invalid(3100, now)

    def _authentic(self, content_type: str, body: bytes) -> dict[str, Any] | None:
        if content_type.split(";", maxsplit=1)[0].strip() != "application/x-www-form-urlencoded":
            return None
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        text = fields.get("json", "")
        key_ok = hmac.compare_digest(fields.get("vpbx_api_key", ""), self.api_key)
        sign = fields.get("sign", "")
        if not (key_ok and hmac.compare_digest(sign, mango_sign(self.api_key, text, self.salt))):
            return None
        try:
            payload = json.loads(text)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _invalid(self, code: int, now: float) -> tuple[int, dict[str, str], bytes]:
        if self._first_invalid is not None and now - self._first_invalid < self.invalid_window:
            self._blocked_until = self._first_invalid + self.block_seconds
            self.blocks += 1
            return self._json(401, {"result": code})
        self._first_invalid = now
        return self._json(self.invalid_status, {"result": code})

    def _recording(self, payload: dict[str, Any], now: float) -> tuple[int, dict[str, str], bytes]:
        recent = [s for s in self.seen("queries/recording/post") if now - s.at < 1.0]
        if len(recent) >= self.max_per_second:
            return self._json(429, RATE_LIMITED)
        recording = payload.get("recording_id")
        if payload.get("action") != "download" or not isinstance(recording, str):
            return self._invalid(3103, now)
        self._asked[recording] = self._asked.get(recording, 0) + 1
        if recording not in self.recordings or self._asked[recording] <= self.not_ready_first:
            return self._invalid(3320, now)
        token = secrets.token_urlsafe(24)
        self.links[token] = recording
        base = self.link_base or f"http://127.0.0.1:{self.port}"
        return 302, {"Location": f"{base}/files/{token}"}, b""

    def _stats_request(
        self, payload: dict[str, Any], now: float
    ) -> tuple[int, dict[str, str], bytes]:
        if now - self._last_stats < self.stats_interval:
            return self._json(429, RATE_LIMITED)
        self._last_stats = now
        try:
            start, end = int(payload["date_from"]), int(payload["date_to"])
        except (KeyError, TypeError, ValueError):
            return self._invalid(3103, now)
        fields = [name.strip() for name in str(payload.get("fields", "")).split(",")]
        key = secrets.token_urlsafe(12)
        self._reports[key] = (start, end, fields)
        return self._json(200, {"key": key})

    def _stats_result(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        key = str(payload.get("key"))
        if key not in self._reports:
            return 404, {}, b""
        self._polls[key] = self._polls.get(key, 0) + 1
        if self._polls[key] <= self.stats_not_ready:
            return 204, {}, b""
        start, end, fields = self._reports[key]
        rows = [c.line(fields) for c in self.calls if start <= int(c.values["start"]) <= end]
        body = "\n".join(rows + self.stats_extra_lines).encode()
        return 200, {"Content-Type": "text/csv"}, body

    def answer_file(self, token: str) -> tuple[int, dict[str, str], bytes]:
        self.downloads.append(token)
        if self.file_status is not None:
            return self.file_status, {}, b""
        if token not in self.links:
            return 404, {}, b""
        if token in self._used:
            return 410, {}, b""
        self._used.add(token)
        return 200, {"Content-Type": "audio/mp3"}, self.recordings[self.links[token]]

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner: MangoStandIn = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        with owner.lock:
            if path.startswith("/vpbx/"):
                name = path.removeprefix("/vpbx/").strip("/")
                status, headers, data = owner.answer_api(
                    name, self.headers.get("Content-Type", ""), body
                )
                owner.requests.append(Seen(time.monotonic(), name, status, _payload(body)))
            else:
                status, headers, data = 404, {}, b""
        self._send(status, headers, data)

    def do_GET(self) -> None:
        owner: MangoStandIn = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        with owner.lock:
            if path.startswith("/files/"):
                status, headers, data = owner.answer_file(path.removeprefix("/files/"))
            else:
                status, headers, data = 404, {}, b""
        self._send(status, headers, data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _payload(body: bytes) -> dict[str, Any] | None:
    fields = dict(parse_qsl(body.decode("utf-8", "replace")))
    try:
        payload = json.loads(fields.get("json", ""))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def summary(
    entry_id: str,
    *,
    talked: bool = True,
    client: str = "79991234567",
    extension: str = "101",
    start: int = 1_763_708_400,  # 2025-11-21 10:00:00 Moscow
) -> dict[str, Any]:
    """An events/summary payload for an inbound call, shaped like the documentation's
    example 1 (answered) or 4 (missed)."""
    return {
        "entry_id": entry_id,
        "call_direction": 1,
        "from": {"number": client},
        "to": {"extension": extension, "number": "74951234567"},
        "line_number": "74950000000",
        "create_time": start,
        "forward_time": start + 2,
        "talk_time": start + 5 if talked else 0,
        "end_time": start + 17,
        "entry_result": 1 if talked else 0,
        "disconnect_reason": 1100,
    }


def record_added(
    entry_id: str, recording_id: str, timestamp: int = 1_763_708_420
) -> dict[str, Any]:
    """An events/record/added payload, shaped like the documentation's example."""
    return {
        "entry_id": entry_id,
        "product_id": 300022532,
        "user_id": 300049012,
        "timestamp": timestamp,
        "recording_id": recording_id,
    }


def tokens_in(text: str, standin: MangoStandIn) -> Iterator[str]:
    """Every single-use link token the stand-in issued that appears in ``text``."""
    return (token for token in list(standin.links) if token in text)
