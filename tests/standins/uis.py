"""UIS / CoMagic on loopback: the notifications it sends, its Data API, its media server.

- :func:`fill` fills a notification template the way UIS does (integrations.md §5.1):
  each ``{{placeholder}}`` becomes the value as JSON (strings quoted, numbers bare, lists
  as arrays) and an empty value becomes nothing at all, so an unquoted placeholder
  leaves ``"employee_id":,``.  ``quoted=True`` is an admin who wrote ``"{{name}}"``.
- :class:`DataApi` is ``get.calls_report`` (JSON-RPC 2.0, §5.2): POST only, JSON only,
  ``access_token`` checked, dates ``YYYY-MM-DD hh:mm:ss``, ``limit`` ≤ 10000 and
  ``offset`` paging with ``metadata.total_items``, unknown report fields refused, and the
  first ``limit_errors`` requests answered with the limit error.
- :class:`Media` serves recordings at ``/system/media/talk/<session>/<record>/``,
  answering 404 to the first ``missing_first`` requests of each (not processed yet).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from callscribe.connectors.sources.uis_api import FIELDS
from callscribe.connectors.sources.uis_templates import TEMPLATES, Template
from tests.standins.loopback import Answer, LoopbackServer, Received

_TIME = "%Y-%m-%d %H:%M:%S"
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


def template(event: str) -> Template:
    return next(t for t in TEMPLATES if t.event == event)


def fill(body: str, values: Mapping[str, Any], *, quoted: bool = False) -> bytes:
    """``body`` (a template as the admin pasted it) as UIS sends it, for ``values``."""
    if quoted:
        body = re.sub(r":(\{\{[a-z_]+\}\})", r':"\1"', body)

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        if found is None or found == "":
            return ""
        return json.dumps(found, ensure_ascii=False)

    return _PLACEHOLDER.sub(value, body).encode("utf-8")


async def notify(
    url: str, event: str, token: str, values: Mapping[str, Any], *, quoted: bool = False
) -> httpx.Response:
    """POST one notification made from callscribe's own template for ``event``."""
    body = fill(template(event).body(token), values, quoted=quoted)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=body, headers={"Content-Type": "application/json"})


def call_end_values(session: int, **extra: Any) -> dict[str, Any]:
    """A call-end notification's values for an answered inbound call."""
    return {
        "call_session_id": session,
        "communication_id": session + 1000,
        "direction": "in",
        "start_time": "2026-11-20 10:00:00",
        "finish_time": "2026-11-20 10:00:17",
        "talk_time_duration": 12,
        "total_time_duration": 17,
        "contact_phone_number": "79991234567",
        "virtual_phone_number": "74950000000",
        "employee_id": 4242,
        "employee_full_name": "Иван Петров",
        "is_lost": False,
        "tag_names": ["VIP"],
        **extra,
    }


@dataclass
class Call:
    """One call in the account's report, with the report's field names."""

    id: int
    start_time: str
    is_lost: bool = False
    talk_duration: int = 12
    records: list[str] = field(default_factory=list)
    full_record_file_link: str | None = None

    def report(self) -> dict[str, Any]:
        start = datetime.strptime(self.start_time, _TIME)
        return {
            "id": self.id,
            "start_time": self.start_time,
            "finish_time": start.replace(second=min(59, start.second + 17)).strftime(_TIME),
            "finish_reason": "subscriber_disconnects",
            "direction": "in",
            "is_lost": self.is_lost,
            "contact_phone_number": "79991234567",
            "virtual_phone_number": "74950000000",
            "talk_duration": 0 if self.is_lost else self.talk_duration,
            "total_duration": 17,
            "communication_id": self.id + 1000,
            "call_records": self.records,
            "full_record_file_link": self.full_record_file_link,
            "last_talked_employee_id": None if self.is_lost else 4242,
        }


class DataApi(LoopbackServer):
    PATH = "/v2.0"

    def __init__(self, token: str, calls: list[Call], *, limit_errors: int = 0) -> None:
        self.token = token
        self.calls = calls
        self.limit_errors = limit_errors
        self.answered: list[dict[str, Any]] = []  # params of every request answered with data
        self.hold: threading.Event | None = None  # set: requests after the first wait for it
        self.refuse_after: int | None = None  # pages answered before the key is "revoked"
        super().__init__(self._route)

    @property
    def endpoint(self) -> str:
        return self.url + self.PATH

    def _route(self, request: Received) -> Answer:  # noqa: PLR0911 - one answer per check
        if request.path != self.PATH:
            return Answer(404)
        if request.method != "POST":
            return Answer(405, b"always POST")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(None, -32700, "Content-Type must be application/json")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(None, -32700, "Parse error")
        rid = body.get("id")
        if body.get("jsonrpc") != "2.0" or rid is None:
            return _error(rid, -32600, "Invalid Request")
        if body.get("method") != "get.calls_report":
            return _error(rid, -32601, "Method not found")
        params = body.get("params") or {}
        revoked = self.refuse_after is not None and len(self.answered) >= self.refuse_after
        if params.get("access_token") != self.token or revoked:
            return _error(rid, -32001, "Access token is invalid", "invalid_access_token")
        problem = _bad_params(params)
        if problem:
            return _error(rid, -32602, problem, "invalid_parameter_value")
        with self.lock:
            if self.limit_errors > 0:
                self.limit_errors -= 1
                return _error(rid, -32029, "Limit exceeded", "limit_exceeded")
            hold = self.hold if self.answered else None
        if hold is not None:
            hold.wait(60)
        selected = [
            call.report()
            for call in self.calls
            if params["date_from"] <= call.start_time <= params["date_till"]
        ]
        page = selected[params["offset"] : params["offset"] + params["limit"]]
        with self.lock:
            self.answered.append(params)
        data = [{name: call[name] for name in params["fields"]} for call in page]
        result = {"data": data, "metadata": {"total_items": len(selected)}}
        return _json({"jsonrpc": "2.0", "id": rid, "result": result})


def _bad_params(params: Mapping[str, Any]) -> str | None:
    for name in ("date_from", "date_till"):
        try:
            datetime.strptime(str(params.get(name)), _TIME)
        except ValueError:
            return f"{name} must be YYYY-MM-DD hh:mm:ss"
    if params["date_till"] < params["date_from"]:
        return "date_till is before date_from"
    limit, offset = params.get("limit"), params.get("offset")
    if not isinstance(limit, int) or not 1 <= limit <= 10000:
        return "limit must be 1..10000"
    if not isinstance(offset, int) or offset < 0:
        return "offset must be a non-negative integer"
    unknown = set(params.get("fields") or ["?"]) - set(FIELDS)
    return f"fields not available: {sorted(unknown)}" if unknown else None


def _error(rid: Any, code: int, message: str, mnemonic: str | None = None) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message}
    if mnemonic:
        error["data"] = {"mnemonic": mnemonic}
    return _json({"jsonrpc": "2.0", "id": rid, "error": error})


def _json(document: Any) -> Answer:
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    return Answer(200, body, {"Content-Type": "application/json; charset=UTF-8"})


class Media(LoopbackServer):
    def __init__(self, files: Mapping[str, bytes], missing_first: int = 0) -> None:
        self.files = dict(files)  # path -> audio
        self.missing_first = missing_first
        super().__init__(self._route)

    def link(self, path: str) -> str:
        return self.url + path

    def _route(self, request: Received) -> Answer:
        if request.method != "GET" or request.path not in self.files:
            return Answer(404)
        if len(self.requests_to(request.path)) <= self.missing_first:
            return Answer(404)
        return Answer(200, self.files[request.path], {"Content-Type": "audio/wav"})
