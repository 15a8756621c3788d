"""Okdesk's API as okdesk.ru/apidoc and integrations.md §3 describe it (plus what working
clients show, where the documentation is silent): ``https://{account}.okdesk.ru/api/v1/``,
``api_token`` in the query string of every request.

- ``GET /companies/?phone=`` exact match, and ``+`` must come as ``%2B`` (a bare ``+`` is a
  space, so ``+7…`` finds nothing) → the company, or ``[]``;
- ``GET /contacts/?phone=`` (clients) or ``?search_string=`` (substring) → a list;
- ``POST /contacts/`` ``{"contact": {first_name, last_name, phone}}`` → ``{"id": …}``;
- ``POST /issues/`` ``{"issue": {title, description, contact_id | company_id,
  assignee_id, …}}`` → ``{"id": …}``;
- ``POST /issues/{id}/comments`` ``{"comment": {content, author_id, author_type,
  public}}`` and ``GET`` the same path (the issue's comments, as working clients read them).
"""

from __future__ import annotations

import re
from itertools import count
from typing import Any

from tests.standins.helpdesk import Answer, HelpdeskStandIn, Received

COMMENTS = re.compile(r"^/api/v1/issues/(\d+)/comments$")


class OkdeskStandIn(HelpdeskStandIn):
    sink_type = "okdesk"

    def __init__(self, token: str, employees: set[int]) -> None:
        self.token = token
        self.employees = set(employees)
        self.companies: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.issues: dict[int, dict[str, Any]] = {}
        self.lists_comments = True  # False: the comments listing answers 404
        self._ids = count(500)
        super().__init__()

    def add_company(self, name: str, phone: str) -> int:
        company = next(self._ids)
        self.companies[company] = {"id": company, "name": name, "phone": phone}
        return company

    def add_contact(self, first_name: str, last_name: str, phone: str) -> int:
        contact = next(self._ids)
        self.contacts[contact] = {
            "id": contact,
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "mobile_phone": None,
        }
        return contact

    def add_issue(self, title: str) -> int:
        issue = next(self._ids)
        self.issues[issue] = {"id": issue, "title": title, "comments": []}
        return issue

    def comments(self, issue: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.issues[issue]["comments"])

    def route(self, request: Received) -> tuple[int, Any]:
        if request.query.get("api_token") != self.token:
            raise Answer(401, {"errors": "Неверный api_token"})
        where = (request.method, request.path)
        if where == ("GET", "/api/v1/companies/"):
            phone = request.query.get("phone")
            found = [c for c in self.companies.values() if c["phone"] == phone]
            return 200, found[0] if found else []
        if where == ("GET", "/api/v1/contacts/"):
            return 200, self._contacts(request.query)
        if where == ("POST", "/api/v1/contacts/"):
            return 200, self._new_contact(_object(request, "contact"))
        if where == ("POST", "/api/v1/issues/"):
            return 200, self._new_issue(_object(request, "issue"))
        match = COMMENTS.match(request.path)
        if match and int(match.group(1)) in self.issues:
            issue = self.issues[int(match.group(1))]
            if request.method == "POST":
                return 200, self._new_comment(issue, _object(request, "comment"))
            if self.lists_comments:
                return 200, issue["comments"]
        raise Answer(404, {"errors": "Not found"})

    def _contacts(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if "phone" in query:
            return [c for c in self.contacts.values() if query["phone"] in (c["phone"],)]
        needle = query.get("search_string", "")
        return [
            c
            for c in self.contacts.values()
            if needle
            and any(needle in str(c[k] or "") for k in ("first_name", "last_name", "phone"))
        ]

    def _new_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        _refuse_unless(contact.get("first_name") and contact.get("last_name"), "name required")
        created = self.add_contact(contact["first_name"], contact["last_name"], contact["phone"])
        return self.contacts[created]

    def _new_issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        _refuse_unless(issue.get("title"), "title required")
        _refuse_unless(issue.get("contact_id") in (None, *self.contacts), "unknown contact")
        _refuse_unless(issue.get("company_id") in (None, *self.companies), "unknown company")
        _refuse_unless(issue.get("assignee_id") in (None, *self.employees), "unknown assignee")
        number = self.add_issue(issue["title"])
        self.issues[number] |= {k: v for k, v in issue.items() if k != "title"}
        return {"id": number}

    def _new_comment(self, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        _refuse_unless(isinstance(comment.get("content"), str) and comment["content"], "content")
        _refuse_unless(isinstance(comment.get("public"), bool), "public must be true or false")
        if comment.get("author_type") == "employee":
            _refuse_unless(comment.get("author_id") in self.employees, "unknown author")
        created = {"id": next(self._ids), **comment}
        issue["comments"].append(created)
        return created


def _object(request: Received, name: str) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Answer(415, {"errors": "application/json expected"})
    body = request.json()
    _refuse_unless(isinstance(body, dict) and isinstance(body.get(name), dict), f"{name} missing")
    return dict(body[name])


def _refuse_unless(condition: Any, error: str) -> None:
    if not condition:
        raise Answer(422, {"errors": error})
