"""Qolio (ex-DealApp), the quality-assurance platform: each call becomes a card with its
recording and its transcript, operator and client apart (docs/sinks/qolio.md).

``POST <integration URL>/phone_calls`` with the raw integration token in ``Authorization``
(no ``Bearer``), as Qolio's «API запрос для добавления звонка с транскрибцией» shows.  The
call's ``uid`` is the same on every attempt, so after a crash the repeat names the same
call (Qolio keeps it as ``integration_uid``; its text API documents posting the same id as
an update).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import AnyHttpUrl, Field, field_validator

from callscribe.config import RenderSettings
from callscribe.config.base import SecretValue
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.call_values import (
    FIELD_PATH_HELP,
    FieldPath,
    field_value,
    platform_id,
)
from callscribe.connectors.sinks.comment import talk_seconds
from callscribe.connectors.sinks.exactly_once import Progress, text_id
from callscribe.connectors.sinks.platform import PlatformAPI, PlatformSettings
from callscribe.domain import Call, Direction, Speaker, Transcript
from callscribe.errors import SinkError

#: Qolio's answer when ``operator_id`` is bound to no active employee.
# Long enough for "<source>-<Asterisk uniqueid>"; anything longer or odder goes as a digest.
MAX_UID_CHARS = 64
NO_ACTIVE_OPERATOR = "Необходимо, чтобы был определен активный оператор"
DEFAULT_DIRECTIONS = {
    Direction.INBOUND: "incoming",
    Direction.OUTBOUND: "outcoming",  # sic: Qolio's spelling
    Direction.INTERNAL: "local",
    Direction.UNKNOWN: "incoming",
}


class QolioSinkConfig(PlatformSettings):
    type: Literal["qolio"]
    url: AnyHttpUrl = Field(
        description="The integration URL Qolio shows for an API integration "
        "(https://<host>/api/v1/integrations/<id>); '/phone_calls' is added."
    )
    token: SecretValue = Field(
        description="The integration's Authorization token (sent as it is, no 'Bearer')."
    )
    operators: dict[str, str] = Field(
        default_factory=dict,
        description="callscribe's operator id (the PBX extension or agent id) -> Qolio "
        "operator_id (the employee's integration id or e-mail); an id not listed is sent "
        "as it is.",
    )
    default_operator: str | None = Field(
        None, description="Qolio operator_id for calls that name no operator."
    )
    custom_fields: dict[str, FieldPath] = Field(
        default_factory=dict,
        description=f"Qolio custom field -> the call field it takes: {FIELD_PATH_HELP}. "
        "Fields the call does not carry are left out.",
    )
    directions: dict[Direction, str] = Field(
        default_factory=lambda: dict(DEFAULT_DIRECTIONS),
        description="callscribe direction -> Qolio 'direction'. Qolio documents 'incoming' "
        "and its clients send 'outcoming'; 'local' (internal) is from its text API; a call of "
        "unknown direction goes as 'incoming'.",
    )
    mono_role: Literal["operator", "client"] = Field(
        "client",
        description="Role of lines from mono recordings (speaker unknown); Qolio knows "
        "only operator and client.",
    )

    @field_validator("directions")
    @classmethod
    def _every_direction(cls, names: dict[Direction, str]) -> dict[Direction, str]:
        return {**DEFAULT_DIRECTIONS, **names}


class QolioSink:
    def __init__(self, name: str, config: QolioSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.config = config
        url = str(config.url).rstrip("/")
        token = config.token.reveal()
        self._api = PlatformAPI(
            name,
            "Qolio",
            url if url.endswith("/phone_calls") else url + "/phone_calls",
            credential_setting="token",
            timeout_seconds=config.timeout_seconds,
            headers={"authorization": token},
            secrets=(token,),
            refusal=self._no_active_operator,
        )

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        body = self.document(call, transcript, context.recording_url)
        progress = Progress(context)
        await progress.record(uid=body["uid"])
        answer = await self._api.call("POST", "", json=body)
        qolio_id = text_id(answer.get("id")) if isinstance(answer, dict) else None
        if qolio_id is not None:
            await progress.record(qolio_id=qolio_id)
        return str(body["uid"])

    def document(
        self, call: Call, transcript: Transcript | None, recording_url: str | None
    ) -> dict[str, Any]:
        """The ``phone_calls`` body for one call."""
        event = call.event
        config = self.config
        operator = (
            config.operators.get(event.operator_id, event.operator_id)
            if event.operator_id
            else config.default_operator
        )
        if operator is None:
            raise SinkError(
                "the call names no operator and default_operator is not set; "
                f"Qolio needs one (set [sinks.{self.name}] default_operator)",
                retryable=False,
            )
        body: dict[str, Any] = {
            "uid": platform_id(f"{event.source}-{event.external_id}", MAX_UID_CHARS),
            "operator_id": operator,
            "direction": config.directions[event.direction],
            "duration": round(
                transcript.duration if transcript else talk_seconds(call, None) or 0.0, 2
            ),
        }
        started = event.started_at or event.answered_at or event.ended_at
        if started is not None:
            body["started_at"] = started.isoformat()
        number = config.client_phone(event)
        if number is not None:
            body["client_phone_number"] = number
        if recording_url:
            body["media_url"] = recording_url
        custom = {
            name: value
            for name, path in config.custom_fields.items()
            if (value := field_value(event, path)) is not None
        }
        if custom:
            body["custom_fields"] = custom
        if transcript is not None:
            body["transcription"] = [
                {
                    "text": segment.text,
                    "start_time": round(segment.start, 2),
                    "end_time": round(segment.end, 2),
                    "role": config.mono_role
                    if segment.speaker is Speaker.UNKNOWN
                    else segment.speaker.value,
                }
                for segment in transcript.segments
            ]
        return body

    def _no_active_operator(self, response: httpx.Response) -> str | None:
        if NO_ACTIVE_OPERATOR not in response.text:
            return None
        # Read back from the request: deliveries run concurrently on one sink.
        operator = json.loads(response.request.content).get("operator_id")
        return (
            f"Qolio has no active operator {operator!r} ({NO_ACTIVE_OPERATOR}): bind "
            "that id to an employee in Qolio (the employee's integration id) or map the "
            f"call's operator to an existing one in [sinks.{self.name}] operators"
        )

    async def aclose(self) -> None:
        await self._api.aclose()
