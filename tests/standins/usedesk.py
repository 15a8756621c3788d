"""Usedesk's API as api.usedocs.ru and integrations.md §2 describe it: every method a POST
to ``https://api.usedesk.ru/{method}``, JSON or form, ``api_token`` in the body.

- ``/clients`` {query, search_type: partial_match | full_match} → ``[{id, name, emails,
  phone, tickets: [ids]}]``;
- ``/ticket`` {ticket_id} → ``{"ticket": {...}, "comments": [...]}``;
- ``/create/ticket`` {subject ≤ 255, message ~64 KB, client_id | "new_client",
  client_phone, private_comment, type, priority, tag, assignee_id, additional_id} →
  ``{"status": "success", "ticket_id": N}``;
- ``/create/comment`` {ticket_id, message, type public | private (default private),
  from user ⇒ user_id} → ``{"status": "success", "comment_id": N}``.

A message over 64 KB (UTF-8) is refused, as the documented limit says.
"""

from __future__ import annotations

import json
from itertools import count
from typing import Any
from urllib.parse import parse_qs

from tests.standins.helpdesk import Answer, HelpdeskStandIn, Received

MAX_MESSAGE_BYTES = 64 * 1024
STATUSES = set(range(1, 11))


class UsedeskStandIn(HelpdeskStandIn):
    sink_type = "usedesk"

    def __init__(self, token: str) -> None:
        self.token = token
        self.clients: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self._ids = count(1000)
        super().__init__()

    def add_client(self, phone: str, name: str = "Клиент") -> int:
        client = next(self._ids)
        self.clients[client] = {"id": client, "name": name, "emails": [], "phone": phone}
        return client

    def add_ticket(self, client: int, status: int, subject: str = "Вопрос") -> int:
        ticket = next(self._ids)
        self.tickets[ticket] = {
            "id": ticket,
            "client_id": client,
            "subject": subject,
            "status_id": status,
            "comments": [],
        }
        return ticket

    def comments(self, ticket: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.tickets[ticket]["comments"])

    def route(self, request: Received) -> tuple[int, Any]:
        if request.method != "POST":
            raise Answer(405, {"error": "Method not allowed"})
        data = _form(request)
        if data.get("api_token") != self.token:
            raise Answer(401, {"error": "Invalid api_token"})
        methods = {
            "/clients": self._clients,
            "/ticket": self._ticket,
            "/create/ticket": self._create_ticket,
            "/create/comment": self._create_comment,
        }
        if request.path not in methods:
            raise Answer(404, {"error": "Unknown method"})
        return 200, methods[request.path](data)

    def _clients(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        query = str(data.get("query") or "")
        full = data.get("search_type") == "full_match"
        found = [
            c
            for c in self.clients.values()
            if (c["phone"] == query if full else query in c["phone"])
        ]
        tickets = self._tickets_by_client()
        return [{**c, "tickets": tickets.get(c["id"], [])} for c in found]

    def _ticket(self, data: dict[str, Any]) -> dict[str, Any]:
        ticket = self._existing(data)
        about = {k: v for k, v in ticket.items() if k != "comments"}
        return {"ticket": about, "comments": ticket["comments"]}

    def _create_ticket(self, data: dict[str, Any]) -> dict[str, Any]:
        subject, message = str(data.get("subject") or ""), _message(data)
        _refuse_unless(subject and len(subject) <= 255, "subject is required (≤ 255)")
        client = data.get("client_id")
        if client == "new_client" or client is None:
            phone, name = str(data.get("client_phone") or ""), data.get("client_name") or "Клиент"
            client = self.add_client(phone, str(name))
        _refuse_unless(client in self.clients, "client not found")
        _refuse_unless(
            data.get("type", "question") in {"question", "task", "problem", "incident"},
            "type is not valid",
        )
        ticket = self.add_ticket(client, int(data.get("status", 8)), subject)
        self.tickets[ticket] |= {
            k: data[k] for k in ("priority", "tag", "assignee_id", "additional_id") if k in data
        }
        private = data.get("private_comment") in (True, "true")
        self._add_comment(ticket, message, "private" if private else "public", data)
        return {"status": "success", "ticket_id": ticket}

    def _create_comment(self, data: dict[str, Any]) -> dict[str, Any]:
        ticket = self._existing(data)
        kind = data.get("type", "private")
        _refuse_unless(kind in ("public", "private"), "type is public or private")
        _refuse_unless(data.get("from") != "user" or "user_id" in data, "from=user needs user_id")
        comment = self._add_comment(ticket["id"], _message(data), kind, data)
        return {"status": "success", "comment_id": comment}

    def _add_comment(self, ticket: int, message: str, kind: str, data: dict[str, Any]) -> int:
        comment = next(self._ids)
        self.tickets[ticket]["comments"].append(
            {"id": comment, "message": message, "type": kind, "user_id": data.get("user_id")}
        )
        return comment

    def _existing(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.tickets[int(data["ticket_id"])]
        except (KeyError, TypeError, ValueError):
            raise Answer(404, {"error": "Ticket not found"}) from None

    def _tickets_by_client(self) -> dict[int, list[int]]:
        by_client: dict[int, list[int]] = {}
        for ticket in self.tickets.values():
            by_client.setdefault(ticket["client_id"], []).append(ticket["id"])
        return by_client


def _form(request: Received) -> dict[str, Any]:
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("application/json"):
            data = json.loads(request.body.decode("utf-8"))
            _refuse_unless(isinstance(data, dict), "body must be an object")
            return dict(data)
        if kind.startswith("application/x-www-form-urlencoded"):
            fields = parse_qs(request.body.decode("ascii"), keep_blank_values=True)
            return {k: v[0] for k, v in fields.items()}
    except (UnicodeDecodeError, ValueError):
        raise Answer(400, {"error": "Malformed body"}) from None
    raise Answer(415, {"error": "Send JSON or a form"})


def _message(data: dict[str, Any]) -> str:
    message = data.get("message")
    _refuse_unless(isinstance(message, str) and message != "", "message is required")
    _refuse_unless(len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES, "message is too long")
    return str(message)


def _refuse_unless(condition: Any, error: str) -> None:
    if not condition:
        raise Answer(400, {"error": error})
