"""Mindbox's asynchronous operation endpoint as the Calltouch integration guide (seed 004)
describes it: ``POST /v3/operations/async?endpointId=…&operation=CallTouch|CallTouchStatic
[&deviceUUID=…]``, ``Authorization: Mindbox secretKey="…"``, ``Content-Type:
application/json; charset=utf-8``, ``Accept: application/json``, a JSON body whose
fields the integration's specification lists (here ``customer.mobilePhone`` and
``customerAction.customFields.callId``).  deviceUUID goes with CallTouch only."""

from __future__ import annotations

import json

from tests.standins.http_api import ApiServer, Received

PATH = "/v3/operations/async"


def sink_config(name: str, url: str, secret_key: str, endpoint: str = "Example.Website") -> str:
    """The ``[sinks.<name>]`` block of an http sink that posts each call to this stand-in
    as CallTouchStatic (Mindbox's secret key as the sink's secret)."""
    return (
        f'[sinks.{name}]\ntype = "http"\nurl = "{url}{PATH}"\n'
        f'query.endpointId = "{endpoint}"\nquery.operation = "CallTouchStatic"\n'
        f'secrets.key = "{secret_key}"\n'
        """headers.Content-Type = "application/json; charset=utf-8"
headers.Accept = "application/json"
headers.Authorization = 'Mindbox secretKey="{secrets.key}"'
body.customer.mobilePhone = "{call.client_number|phone_e164}"
body.customerAction.customFields.callId = "{call.external_id}"
"""
    )


class MindboxServer(ApiServer):
    def __init__(self, secret_key: str, endpoint: str) -> None:
        self.secret_key = secret_key
        self.endpoint = endpoint
        super().__init__(reply={"status": "Success"})

    def operations(self, operation: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if dict(r.query).get("operation") == operation]

    def check(self, request: Received) -> tuple[int, str] | None:
        query = dict(request.query)
        headers = request.headers
        if headers.get("authorization") != f'Mindbox secretKey="{self.secret_key}"':
            return 401, '{"status": "Unauthorized"}'
        problems = []
        if request.method != "POST" or request.path != PATH:
            problems.append(f"{request.method} {request.path}: expected POST {PATH}")
        if query.get("endpointId") != self.endpoint:
            problems.append("endpointId")
        if query.get("operation") not in ("CallTouch", "CallTouchStatic"):
            problems.append("operation")
        if ("deviceUUID" in query) != (query.get("operation") == "CallTouch"):
            problems.append("deviceUUID goes with operation=CallTouch only")
        if headers.get("content-type") != "application/json; charset=utf-8":
            problems.append("Content-Type")
        if headers.get("accept") != "application/json":
            problems.append("Accept")
        try:
            body = json.loads(request.body.decode("utf-8"))
            body["customer"]["mobilePhone"]
            body["customerAction"]["customFields"]["callId"]
        except (ValueError, KeyError, TypeError):
            problems.append("body: customer.mobilePhone and customerAction.customFields.callId")
        if problems:
            return 400, json.dumps({"status": "ValidationError", "problems": problems})
        return None
