"""The JSON document of a finished call that callscribe's own sinks send.

It is the transcript format (docs/transcript-format.md) with the call's metadata beside
it, plus the dialogue already rendered for people.  Vendor sinks build their own bodies.
"""

from __future__ import annotations

from typing import Any

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.domain import Call, Transcript
from callscribe.transcription.render import dialogue, to_json_dict

PAYLOAD_FORMAT = "callscribe.call"
PAYLOAD_VERSION = 1


def call_document(
    call: Call,
    transcript: Transcript | None,
    key: str,
    labels: RenderSettings,
    *,
    transcript_version: int = 1,
    revision: bool = False,
) -> dict[str, Any]:
    """``transcript_version``: which of the call's transcripts this is (1: the first);
    ``revision``: the receiver already got an earlier one of this call, and this
    delivery (its own idempotency key) replaces it."""
    event = call.event
    return {
        "format": PAYLOAD_FORMAT,
        "version": PAYLOAD_VERSION,
        "idempotency_key": key,
        "transcript_version": transcript_version,
        "revision": revision,
        "call": {
            "id": call.id,
            "source": event.source,
            "external_id": event.external_id,
            "direction": event.direction.value,
            "started_at": _iso(event.started_at),
            "answered_at": _iso(event.answered_at),
            "ended_at": _iso(event.ended_at),
            "talk_seconds": event.talk_seconds,
            "client_number": event.client_number,
            "line_number": event.line_number,
            "operator_id": event.operator_id,
            "operator_name": event.operator_name,
            "state": call.state.value,
        },
        "transcript": to_json_dict(transcript) if transcript else None,
        "dialogue": dialogue(transcript, labels) if transcript else None,
    }


def delivery_document(
    call: Call, transcript: Transcript | None, context: DeliveryContext, labels: RenderSettings
) -> dict[str, Any]:
    """The document one delivery sends: its key, and which transcript it carries."""
    return call_document(
        call,
        transcript,
        context.key,
        labels,
        transcript_version=context.version,
        revision=context.revises is not None,
    )


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
