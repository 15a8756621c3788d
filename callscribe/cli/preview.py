"""What ``config validate`` shows of the sinks whose requests are mapped in the
configuration (``http``, ``tqm``): the exact request one call makes, secrets masked.

The call is a sample unless a stored one is asked for; the vendor fields the templates
read (``raw.*``, ``fields.*``) are filled with ``<path>`` in the sample so every key of
the body shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from callscribe.config.settings import Settings
from callscribe.connectors.sinks.http import env_of, prepare
from callscribe.connectors.sinks.http_config import HttpSinkConfig
from callscribe.connectors.sinks.tqm import tqm_value
from callscribe.connectors.sinks.tqm_config import TqmSinkConfig
from callscribe.domain import (
    Call,
    CallEvent,
    CallState,
    Direction,
    RecordingRef,
    Segment,
    Speaker,
    Transcript,
)
from callscribe.errors import SinkError
from callscribe.mapping.fields import Subject
from callscribe.mapping.template import Template
from callscribe.store.codec import idempotency_key

SAMPLE_TRANSCRIPT = Transcript(
    segments=(
        Segment(Speaker.OPERATOR, 1.0, 3.5, "Здравствуйте, чем могу помочь?", -0.2, 0.01),
        Segment(Speaker.CLIENT, 4.0, 7.0, "Добрый день, хочу узнать про доставку.", -0.2, 0.01),
    ),
    duration=63.0,
    language="ru",
    model="base",
)


def sample_call(settings: Settings) -> Call:
    """A finished inbound call with every field set, and the vendor fields the
    configuration's templates read."""
    source = next(iter(settings.sources), "pbx")
    raw: dict[str, Any] = {}
    for path in _vendor_paths(settings):
        node = raw
        *parents, last = path[1:] if path[0] == "raw" else ("fields", *path[1:])
        for name in parents:
            node = node.setdefault(name, {})
        if isinstance(node, dict):
            node.setdefault(last, f"<{'.'.join(path)}>")
    event = CallEvent(
        source=source,
        external_id="sample-1718000000.42",
        direction=Direction.INBOUND,
        started_at=datetime(2026, 1, 15, 7, 0, 0, tzinfo=UTC),
        answered_at=datetime(2026, 1, 15, 7, 0, 4, tzinfo=UTC),
        ended_at=datetime(2026, 1, 15, 7, 1, 7, tzinfo=UTC),
        client_number="+79991234567",
        line_number="+74950000000",
        operator_id="7",
        operator_name="Иван Петров",
        recordings=(RecordingRef("https://pbx.example/recordings/sample.wav"),),
        raw=raw,
    )
    return Call(1, event, CallState.TRANSCRIBED, datetime(2026, 1, 15, 7, 1, 10, tzinfo=UTC))


def _vendor_paths(settings: Settings) -> Iterator[tuple[str, ...]]:
    for config in settings.sinks.values():
        for template in _templates(config):
            for placeholder in template.placeholders:
                if placeholder.path[0] in ("raw", "fields"):
                    yield placeholder.path


def _templates(config: Any) -> list[Template]:
    if isinstance(config, HttpSinkConfig):
        entries = (*config.query, *config.headers, *config.body)
        return [config.url, *(t for entry in entries for t in entry.templates)]
    if isinstance(config, TqmSinkConfig):
        fields = (config.hangup_side, config.operator_id, config.client_phone, config.file_link)
        return [t for t in fields if t is not None]
    return []


def previews(settings: Settings, call: Call, transcript: Transcript | None) -> Iterator[str]:
    """One block of text per mapped sink."""
    for name, config in settings.sinks.items():
        subject = Subject(
            call.event,
            call,
            transcript,
            settings.render,
            idempotency_key(call.event.source, call.event.external_id, name),
            None,
        )
        try:
            if isinstance(config, HttpSinkConfig):
                text = prepare(config, subject, env_of(config, mask=True)).show()
            elif isinstance(config, TqmSinkConfig):
                text = _tqm(config, subject)
            else:
                continue
        except SinkError as exc:
            text = f"cannot be rendered for this call: {exc}"
        yield f"sink {name}:\n" + "\n".join("  " + line for line in text.split("\n"))


def _tqm(config: TqmSinkConfig, subject: Subject) -> str:
    value = tqm_value(config, subject, link=None)
    url = f"{config.url}".rstrip("/") + "/with-file"
    return "\n".join(
        [
            f"POST {url}",
            "Authorization: Basic ********",
            "Content-Type: multipart/form-data (file: the recording, stereo, operator left)",
            "",
            "value = " + json.dumps(value, ensure_ascii=False, indent=2),
        ]
    )
