"""Calltouch on loopback: its webhook sender and its calls-diary API (integrations.md §6).

:class:`Api` serves ``/calls-service/RestAPI/{siteId}/calls-diary/calls`` (GET only,
``clientApiId`` checked, ``dateFrom`` = ``dateTo`` as dd/mm/yyyy, ``page`` from 1,
``limit`` ≤ 1000, the ``{page, pageTotal, recordsTotal, records}`` answer) and
``.../calls/{callId}/download`` (the MP3, 404 for the first ``missing_first`` requests of
each call: not processed yet).  The first ``throttle_first`` requests get 429 with
Retry-After, as Calltouch answers a client that presses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from tests.standins.loopback import Answer, LoopbackServer, Received

_DAY = "%d/%m/%Y"


def record(call_id: int, date: str, *, successful: bool = True, **extra: Any) -> dict[str, Any]:
    """A calls-diary record (the webhook's fields, named as the API names them)."""
    return {
        "callId": call_id,
        "callerNumber": "79991234567",
        "date": date,
        "waitingConnect": 5,
        "duration": 17,
        "phoneNumber": "74950000000",
        "successful": successful,
        "uniqueCall": True,
        "targetCall": successful,
        "source": "yandex",
        "medium": "cpc",
        "utmSource": "yandex",
        "sessionId": 555000 + call_id,
        "ctCallerId": f"ct-{call_id}",
        **extra,
    }


def as_params(fields: Mapping[str, Any]) -> dict[str, str]:
    """What a webhook carries: every value as text, booleans as Calltouch writes them."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in fields.items()
    }


async def send(url: str, params: Mapping[str, Any], *, method: str = "GET") -> httpx.Response:
    """The webhook as Calltouch sends it: a query string, or a URL-encoded form."""
    async with httpx.AsyncClient(timeout=30) as client:
        if method == "GET":
            return await client.get(url, params=as_params(params))
        return await client.post(url, data=as_params(params))


class Api(LoopbackServer):
    def __init__(
        self,
        site_id: str,
        key: str,
        records: list[dict[str, Any]],
        audio: Mapping[str, bytes],
        *,
        throttle_first: int = 0,
        missing_first: int = 0,
    ) -> None:
        self.site_id = site_id
        self.key = key
        self.records = records
        self.audio = dict(audio)  # callId -> MP3 bytes
        self.throttle_first = throttle_first
        self.missing_first = missing_first
        self.refuse_after: int | None = None  # diary pages answered before the key is revoked
        self.pages: list[dict[str, str]] = []  # query of every diary page answered
        base = f"/calls-service/RestAPI/{site_id}/calls-diary/calls"
        self._diary = base
        self._download = re.compile(re.escape(base) + r"/([^/]+)/download")
        super().__init__(self._route)

    def _route(self, request: Received) -> Answer:
        with self.lock:
            if self.throttle_first > 0:
                self.throttle_first -= 1
                return _json(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})
        if request.method != "GET":
            return _json(405, {"error": "Method Not Allowed"})
        revoked = self.refuse_after is not None and len(self.pages) >= self.refuse_after
        if request.query.get("clientApiId") != self.key or revoked:
            return _json(401, {"error": "Unauthorized", "message": "clientApiId is not valid"})
        if request.path == self._diary:
            return self._page(request.query)
        download = self._download.fullmatch(request.path)
        if download:
            return self._file(download.group(1), request)
        return _json(404, {"error": "Not Found"})

    def _page(self, query: Mapping[str, str]) -> Answer:
        try:
            first = datetime.strptime(query["dateFrom"], _DAY)
            last = datetime.strptime(query["dateTo"], _DAY)
            page, limit = int(query.get("page", "1")), int(query.get("limit", "1000"))
        except (KeyError, ValueError):
            return _json(400, {"error": "Bad Request", "message": "dateFrom/dateTo dd/mm/yyyy"})
        if first != last:
            return _json(400, {"error": "Bad Request", "message": "dateFrom must equal dateTo"})
        if page < 1 or not 1 <= limit <= 1000:
            return _json(400, {"error": "Bad Request", "message": "page >= 1, limit <= 1000"})
        day = [r for r in self.records if r["date"].startswith(query["dateFrom"])]
        with self.lock:
            self.pages.append(dict(query))
        total_pages = max(1, -(-len(day) // limit))
        chunk = day[(page - 1) * limit : page * limit]
        answer = {"page": page, "pageTotal": total_pages, "recordsTotal": len(day)}
        return _json(200, {**answer, "records": chunk})

    def _file(self, call_id: str, request: Received) -> Answer:
        if call_id not in self.audio:
            return _json(404, {"error": "Not Found"})
        if len(self.requests_to(request.path)) <= self.missing_first:
            return _json(404, {"error": "Not Found", "message": "record is not ready"})
        return Answer(200, self.audio[call_id], {"Content-Type": "audio/mpeg"})


def _json(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Answer:
    body = json.dumps(document).encode()
    return Answer(status, body, {"Content-Type": "application/json", **(headers or {})})
