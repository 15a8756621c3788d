"""How the store writes values down: call events as JSON, times as text, delivery keys.

Nothing here depends on SQLite, so another store (PostgreSQL) writes the same documents
and, above all, computes the same idempotency keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from callscribe.domain import CallEvent, Direction, RecordingRef, Speaker

EVENT_FORMAT_VERSION = 1


def utc_now() -> datetime:
    """The default clock of the store: an aware datetime in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """A store timestamp: UTC, microseconds, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs timezone-aware times")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    """Read back a :func:`format_time` timestamp (an aware datetime in UTC)."""
    return datetime.fromisoformat(text)


def idempotency_key(source: str, external_id: str, sink: str, version: int = 1) -> str:
    """The key a sink uses to recognise a transcript it already received.

    ``cs1-`` and the SHA-256 of the JSON array ``[source, external_id, sink]``: 68 ASCII
    letters, digits and a dash, which every helpdesk API we know accepts.  It depends
    only on what the PBX said and the sink's name — not on database row ids — so it stays
    the same when a delivery is retried, re-queued by an admin, or the database is
    rebuilt from scratch; JSON encoding keeps ``("a:b", "c")`` apart from ``("a", "b:c")``.
    A later ``version`` of the call's transcript (``callscribe retranscribe
    --redeliver``) is a delivery of its own: ``[source, external_id, sink, version]``,
    as stable across its retries as the first.
    """
    parts: list[str | int] = [source, external_id, sink]
    if version != 1:
        parts.append(version)
    material = json.dumps(parts, ensure_ascii=False)
    return "cs1-" + hashlib.sha256(material.encode("utf-8")).hexdigest()


def event_to_json(event: CallEvent) -> str:
    """Serialise a call event; aware datetimes keep their offset, naive ones are refused."""
    document: dict[str, Any] = {
        "v": EVENT_FORMAT_VERSION,
        "source": event.source,
        "external_id": event.external_id,
        "direction": event.direction.value,
        "started_at": _time(event.started_at, "started_at"),
        "answered_at": _time(event.answered_at, "answered_at"),
        "ended_at": _time(event.ended_at, "ended_at"),
        "client_number": event.client_number,
        "line_number": event.line_number,
        "operator_id": event.operator_id,
        "operator_name": event.operator_name,
        "recordings": [
            {
                "location": ref.location,
                "channels": None if ref.channels is None else [s.value for s in ref.channels],
            }
            for ref in event.recordings
        ],
        "raw": dict(event.raw),
    }
    # ensure_ascii=False keeps Cyrillic names readable when an admin opens the database.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def event_from_json(text: str) -> CallEvent:
    """Read back what :func:`event_to_json` wrote."""
    document: Mapping[str, Any] = json.loads(text)
    if document.get("v") != EVENT_FORMAT_VERSION:
        raise ValueError(f"unknown call event format version {document.get('v')!r}")
    return CallEvent(
        source=document["source"],
        external_id=document["external_id"],
        direction=Direction(document["direction"]),
        started_at=_parse_optional(document["started_at"]),
        answered_at=_parse_optional(document["answered_at"]),
        ended_at=_parse_optional(document["ended_at"]),
        client_number=document["client_number"],
        line_number=document["line_number"],
        operator_id=document["operator_id"],
        operator_name=document["operator_name"],
        recordings=tuple(_recording(ref) for ref in document["recordings"]),
        raw=document["raw"],
    )


def _time(moment: datetime | None, field: str) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        # A naive time is ambiguous to every sink; the source must say which zone it is.
        raise ValueError(f"CallEvent.{field} is a naive datetime; sources must attach a zone")
    return moment.isoformat()


def _parse_optional(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _recording(document: Mapping[str, Any]) -> RecordingRef:
    channels = document.get("channels")
    if channels is None:
        return RecordingRef(location=document["location"])
    left, right = (Speaker(value) for value in channels)
    return RecordingRef(location=document["location"], channels=(left, right))
