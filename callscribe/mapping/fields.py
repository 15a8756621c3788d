"""A call's fields by dotted path, as route conditions and templates name them.

``call.*``        what the source reported (``call.client_number``, ``call.started_at``...)
``transcript.*``  the transcript (``transcript.dialogue``...): templates only
``delivery.*``    this delivery (``delivery.key``, ``delivery.recording_url``,
                  ``delivery.version``: 2 and up for a newer transcript): templates only
``raw.*``         the vendor's own payload as the source kept it (``raw.sessionId``)
``fields.*``      shorthand for ``raw.fields.*``: the generic webhook's free-form fields

Paths are checked when the configuration is loaded (:func:`check_path`), so a typo is a
config error naming the key, not a silently empty value at delivery time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callscribe.config.transcription import RenderSettings
from callscribe.domain import Call, CallEvent, Speaker, Transcript
from callscribe.transcription.render import dialogue, to_json_dict


@dataclass(frozen=True, slots=True)
class Subject:
    """What a path can read: the event always; the stored call, transcript and delivery
    when a sink renders (routes run before the call is stored or transcribed)."""

    event: CallEvent
    call: Call | None = None
    transcript: Transcript | None = None
    labels: RenderSettings = field(default_factory=RenderSettings)
    key: str | None = None
    recording_url: str | None = None
    version: int = 1  # which of the call's transcripts the delivery sends


Getter = Callable[[Subject], Any]


def _text(speaker: Speaker) -> Getter:
    return lambda s: s.transcript.text_of(speaker) if s.transcript else None


CALL_FIELDS: Mapping[str, Getter] = {
    "source": lambda s: s.event.source,
    "external_id": lambda s: s.event.external_id,
    "direction": lambda s: s.event.direction.value,
    "started_at": lambda s: s.event.started_at,
    "answered_at": lambda s: s.event.answered_at,
    "ended_at": lambda s: s.event.ended_at,
    "talk_seconds": lambda s: s.event.talk_seconds,
    "client_number": lambda s: s.event.client_number,
    "line_number": lambda s: s.event.line_number,
    "operator_id": lambda s: s.event.operator_id,
    "operator_name": lambda s: s.event.operator_name,
    "has_recording": lambda s: bool(s.event.recordings),
}
# Known only once the call is stored: for sinks, not for routes.
STORED_CALL_FIELDS: Mapping[str, Getter] = {
    "id": lambda s: s.call.id if s.call else None,
    "received_at": lambda s: s.call.received_at if s.call else None,
}
TRANSCRIPT_FIELDS: Mapping[str, Getter] = {
    "dialogue": lambda s: dialogue(s.transcript, s.labels) if s.transcript else None,
    "text": lambda s: " ".join(x.text for x in s.transcript.segments) if s.transcript else None,
    "operator_text": _text(Speaker.OPERATOR),
    "client_text": _text(Speaker.CLIENT),
    "duration": lambda s: s.transcript.duration if s.transcript else None,
    "language": lambda s: s.transcript.language if s.transcript else None,
    "document": lambda s: to_json_dict(s.transcript) if s.transcript else None,
}
DELIVERY_FIELDS: Mapping[str, Getter] = {
    "key": lambda s: s.key,
    "recording_url": lambda s: s.recording_url,
    "version": lambda s: s.version,
}
OPEN_ROOTS = ("raw", "fields")  # the vendor's payload: any path below them


@dataclass(frozen=True, slots=True)
class Scope:
    """Which roots a path may start with."""

    stored: bool  # call.id, call.received_at, transcript.*, delivery.*
    extra: tuple[str, ...] = ()  # roots the caller resolves itself (a sink's secrets)


ROUTE_SCOPE = Scope(stored=False)
SINK_SCOPE = Scope(stored=True)


def _known(scope: Scope) -> dict[str, Mapping[str, Getter]]:
    roots: dict[str, Mapping[str, Getter]] = {
        "call": {**CALL_FIELDS, **STORED_CALL_FIELDS} if scope.stored else CALL_FIELDS
    }
    if scope.stored:
        roots |= {"transcript": TRANSCRIPT_FIELDS, "delivery": DELIVERY_FIELDS}
    return roots


def check_path(path: str, scope: Scope) -> tuple[str, ...]:
    """The path's parts; ValueError saying what is wrong with it."""
    parts = tuple(path.split("."))
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"{path!r} is not a field path (write e.g. call.client_number)")
    root, name = parts[0], parts[1]
    if root in OPEN_ROOTS or root in scope.extra:
        return parts
    known = _known(scope)
    if root not in known:
        roots = ", ".join(f"{r}.*" for r in (*known, *OPEN_ROOTS, *scope.extra))
        raise ValueError(f"unknown field {path!r}: a path starts with one of {roots}")
    if name not in known[root] or len(parts) > 2:
        names = ", ".join(f"{root}.{n}" for n in known[root])
        raise ValueError(f"unknown field {path!r} (known: {names})")
    return parts


def lookup(subject: Subject, parts: Sequence[str]) -> Any:
    """The value at a checked path; None when the call does not have it."""
    root = parts[0]
    if root == "raw":
        return dig(subject.event.raw, parts[1:])
    if root == "fields":
        return dig(subject.event.raw, ("fields", *parts[1:]))
    getter = _known(SINK_SCOPE)[root][parts[1]]
    return getter(subject)


def dig(value: Any, parts: Sequence[str]) -> Any:
    """Follow ``parts`` into nested objects and lists (a number indexes a list)."""
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
