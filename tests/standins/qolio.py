"""Qolio's «API запрос для добавления звонков» as its knowledge base and integrations.md §1
describe it: ``POST https://{host}/api/v1/integrations/{id}/phone_calls``, JSON, the raw
integration token in ``Authorization`` (a ``Bearer`` prefix is a wrong token), the
transcription as ``[{text, start_time, end_time, role: operator|client}]``.  An operator_id
bound to no active employee gets «Необходимо, чтобы был определен активный оператор» in
``errors.detail``.  The same ``uid`` posted again updates the call (as Qolio's text API
documents for its ids) rather than adding one.
"""

from __future__ import annotations

from typing import Any

from tests.standins.helpdesk import Answer, HelpdeskStandIn, Received

NO_ACTIVE_OPERATOR = "Необходимо, чтобы был определен активный оператор"
DIRECTIONS = {"incoming", "outcoming", "local"}
PART_KEYS = {"text", "start_time", "end_time", "role"}


class QolioStandIn(HelpdeskStandIn):
    sink_type = "qolio"
    token_setting = "token"

    def __init__(self, token: str, operators: set[str], integration: str = "4f1c-int") -> None:
        self.token = token
        self.operators = set(operators)
        self.integration = integration
        self.calls: dict[str, dict[str, Any]] = {}  # by uid
        super().__init__()

    @property
    def integration_url(self) -> str:
        return f"{self.url}/api/v1/integrations/{self.integration}"

    @property
    def sink_url(self) -> str:
        return self.integration_url

    def route(self, request: Received) -> tuple[int, Any]:
        if request.path != f"/api/v1/integrations/{self.integration}/phone_calls":
            raise Answer(404, {"errors": {"detail": "Not found"}})
        if request.method != "POST":
            raise Answer(405, {"errors": {"detail": "Method not allowed"}})
        if request.headers.get("authorization") != self.token:
            raise Answer(401, {"errors": {"detail": "Unauthorized"}})
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Answer(415, {"errors": {"detail": "Content-Type: application/json"}})
        call = request.json()
        _refuse_unless(isinstance(call, dict), "body must be an object")
        for key in ("uid", "operator_id", "direction", "started_at", "duration"):
            _refuse_unless(key in call, f"{key} is required")
        _refuse_unless(call["direction"] in DIRECTIONS, "direction is not valid")
        _refuse_unless(isinstance(call["duration"], int | float), "duration must be a number")
        if call["operator_id"] not in self.operators:
            raise Answer(422, {"errors": {"detail": NO_ACTIVE_OPERATOR}})
        for part in call.get("transcription", []):
            _refuse_unless(set(part) == PART_KEYS, f"transcription part keys: {sorted(part)}")
            _refuse_unless(part["role"] in ("operator", "client"), "role: operator or client")
            _refuse_unless(part["start_time"] <= part["end_time"], "start_time after end_time")
        self.calls[call["uid"]] = call
        return 200, {}

    def posts(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests("POST", "/api/v1/integrations/")]


def _refuse_unless(condition: bool, detail: str) -> None:
    if not condition:
        raise Answer(422, {"errors": {"detail": detail}})
