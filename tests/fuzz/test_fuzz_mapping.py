"""The template language, the mapped HTTP request and route conditions, against any
template an admin can write and any call a vendor can send.

Templates and ``where`` tables are parsed when the configuration loads (ValueError, or
pydantic's ValidationError around it, is their documented refusal).  What a parsed mapping
does with a call is the delivery's business: a value a filter cannot take is a SinkError
naming the setting, and anything else would stop a delivery worker.  So rendering may
refuse only with SinkError, and what it renders must be a request httpx can send (a URL,
header values without line breaks) whose body reads back as JSON, a form or XML.
Conditions are evaluated on ingest, where an exception would answer the webhook 503 for
ever: they may raise nothing.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import httpx
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from callscribe.config.conditions import parse_where
from callscribe.connectors.sinks.http import env_of, prepare
from callscribe.connectors.sinks.http_config import HttpSinkConfig
from callscribe.domain import Call, CallEvent, CallState, Direction, RecordingRef
from callscribe.errors import SinkError
from callscribe.mapping.fields import SINK_SCOPE, Subject
from callscribe.mapping.template import FILTERS, Template
from tests.fuzz.harness import FUZZ, Refused, checked
from tests.fuzz.strategies import HOSTILE_TEXT, JSON_VALUES, NUMBERS, SCALARS, WIRE_TEXT

PATHS = st.sampled_from(
    ["call.external_id", "call.client_number", "call.started_at", "call.ended_at",
     "call.talk_seconds", "call.direction", "call.operator_name", "call.id",
     "call.received_at", "transcript.dialogue", "delivery.key", "delivery.recording_url",
     "raw.a", "raw.b.c", "raw.list.0", "fields.x", "secrets.key"]
) | WIRE_TEXT  # fmt: skip
FILTER_STEPS = st.sampled_from(list(FILTERS)).flatmap(
    lambda name: st.sampled_from(
        [name, f"{name}:%Y-%m-%d", f"{name}:%s%%%H", f"{name}:200", f"{name}:0", f"{name}:x",
         f"{name}:"]
    )
) | WIRE_TEXT  # fmt: skip


@st.composite
def template_text(draw: st.DrawFn) -> str:
    """Mostly templates that parse (so rendering is reached), some that do not."""
    pieces = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            pieces.append(draw(st.text(st.characters(codec="utf-8"), max_size=8)))
        else:
            steps = draw(st.lists(FILTER_STEPS, max_size=3))
            pieces.append("{" + "|".join([draw(PATHS), *steps]) + "}")
    return "".join(pieces)


TEMPLATES = template_text() | WIRE_TEXT


@FUZZ
@given(TEMPLATES)
@example("{call.started_at|date:%Y-%m-%d %H:%M}")
@example("{{literal}} {raw.a|truncate:99999999999999999999999}")
def test_template_parsing(text: str) -> None:
    with contextlib.suppress(Refused):
        checked("template parsing", Template.parse, text, SINK_SCOPE, allowed=(ValueError,))


# --- a call as a vendor may describe it --------------------------------------------------

MOMENTS = st.none() | st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))]),
)
RAW = st.fixed_dictionaries(
    {},
    optional={
        "a": SCALARS | JSON_VALUES | st.integers(min_value=10**300, max_value=10**305),
        "b": st.fixed_dictionaries({"c": SCALARS | JSON_VALUES}),
        "list": st.lists(SCALARS, max_size=3),
        "fields": st.fixed_dictionaries({"x": SCALARS | JSON_VALUES}),
    },
)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    started = draw(MOMENTS)
    event = CallEvent(
        source="pbx",
        external_id=draw(st.sampled_from(["c-1", "..", "."]) | WIRE_TEXT.filter(bool)),
        direction=draw(st.sampled_from(list(Direction))),
        started_at=started,
        answered_at=draw(MOMENTS),
        ended_at=draw(MOMENTS),
        client_number=draw(st.none() | st.sampled_from(["+79991234567", "8 (999) 123-45-67"])
                           | HOSTILE_TEXT),
        operator_name=draw(st.none() | HOSTILE_TEXT),
        recordings=(RecordingRef("https://pbx.example.com/1.wav"),),
        raw=draw(RAW),
    )  # fmt: skip
    return Call(7, event, CallState.TRANSCRIBED, datetime(2026, 11, 21, tzinfo=UTC))


def subject(call: Call, key: str | None) -> Subject:
    return Subject(call.event, call, None, key=key, recording_url=None)


# --- the mapped HTTP request -------------------------------------------------------------

BODY_KEYS = st.sampled_from(["customer.mobilePhone", "call.id", "a", "a.b.c", "items"])


@st.composite
def http_configs(draw: st.DrawFn) -> dict[str, Any]:
    body_format = draw(st.sampled_from(["json", "form", "xml"]))
    return {
        "type": "http",
        "method": draw(st.sampled_from(["POST", "GET", "PUT"])),
        "url": "https://api.example.com/" + draw(TEMPLATES),
        "query": draw(st.dictionaries(st.sampled_from(["q", "id", "ts"]), TEMPLATES, max_size=2)),
        "headers": draw(st.dictionaries(st.sampled_from(["X-Call", "Authorization"]), TEMPLATES,
                                        max_size=2)),
        "secrets": {"key": "s3cret-value"},
        "body": draw(st.dictionaries(BODY_KEYS, TEMPLATES | NUMBERS | st.booleans()
                                     | st.lists(TEMPLATES, max_size=2), max_size=4)),
        "body_format": body_format,
        "time_zone": draw(st.sampled_from(["UTC", "Europe/Moscow", "Pacific/Kiritimati"])),
    }  # fmt: skip


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def parses_back(content: bytes, body_format: str) -> None:
    if body_format == "json":
        json.loads(content, parse_constant=_no_constant)
    elif body_format == "form":
        parse_qsl(content.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    else:
        ElementTree.fromstring(content)  # noqa: S314 - our own output, checked for form


@FUZZ
@given(http_configs(), calls(), st.none() | st.just("cs1-" + "a" * 64))
@example(
    {"type": "http", "url": "https://api.example.com/x", "body": {"n": "{raw.a|number}"}},
    Call(7, CallEvent("pbx", "c", raw={"a": "1e400"}), CallState.DONE, datetime.now(UTC)),
    None,
)
@example(
    {"type": "http", "url": "https://api.example.com/x", "body": {"t": "{raw.a|unix}"}},
    Call(7, CallEvent("pbx", "c", raw={"a": 1e300}), CallState.DONE, datetime.now(UTC)),
    None,
)
@example(
    {"type": "http", "url": "https://api.example.com/x", "body_format": "xml",
     "body": {"t": "{raw.a}"}},
    Call(7, CallEvent("pbx", "c", raw={"a": "bell \x07 here"}), CallState.DONE,
         datetime.now(UTC)),
    None,
)  # fmt: skip
@example(
    {
        "type": "http",
        "url": "https://api.example.com/x",
        "headers": {"X-Who": "{call.operator_name}"},
    },
    Call(7, CallEvent("pbx", "c", operator_name="Иван"), CallState.DONE, datetime.now(UTC)),
    None,
)
@example(
    {"type": "http", "url": "https://api.example.com/\x1f{call.external_id}"},
    Call(7, CallEvent("pbx", "c"), CallState.DONE, datetime.now(UTC)),
    None,
)
def test_mapped_http_requests(config: dict[str, Any], call: Call, key: str | None) -> None:
    try:
        sink = checked(
            "http sink mapping (config)",
            HttpSinkConfig.model_validate,
            config,
            allowed=(ValidationError,),
        )
    except Refused:
        return
    try:
        request = checked(
            "http sink mapping (render)",
            prepare,
            sink,
            subject(call, key),
            env_of(sink),
            allowed=(SinkError,),
        )
    except Refused:
        return
    built = httpx.Request(
        request.method, request.url, headers=list(request.headers), content=request.content
    )
    assert built.url.host == "api.example.com"  # a call's values cannot move the request
    if request.content is not None:
        parses_back(request.content, sink.body_format)


# --- route conditions --------------------------------------------------------------------

OPERAND = SCALARS | st.lists(SCALARS, max_size=3) | NUMBERS
TESTS = st.dictionaries(
    st.sampled_from(["equals", "in", "regex", "exists", "empty", "gt", "ge", "lt", "le"])
    | WIRE_TEXT,
    OPERAND | st.sampled_from(["^\\+7", "(a+)+$", "[", ".*"]),
    max_size=2,
)
CONDITION_PATHS = st.sampled_from(
    ["call.client_number", "call.talk_seconds", "call.direction", "raw.a", "raw.b.c",
     "fields.x", "raw.list.0", "call.nope"]
) | WIRE_TEXT  # fmt: skip
WHERE = st.recursive(
    st.dictionaries(CONDITION_PATHS, OPERAND | TESTS, min_size=1, max_size=3),
    lambda inner: st.dictionaries(
        st.sampled_from(["all", "any", "not"]),
        inner | st.lists(inner, min_size=1, max_size=2),
        min_size=1,
        max_size=2,
    ),
    max_leaves=6,
)


@FUZZ
@given(WHERE | JSON_VALUES, st.lists(calls(), min_size=1, max_size=3))
@example({"raw.a": {"gt": 5}}, [Call(1, CallEvent("p", "c", raw={"a": 10**400}), CallState.DONE,
                                     datetime.now(UTC))])  # fmt: skip
def test_route_conditions(table: Any, events: list[Call]) -> None:
    try:
        where = checked("route where (parse)", parse_where, table, allowed=(ValueError, TypeError))
    except Refused:
        return
    for call in events:
        checked("route where (evaluate)", where.explain, call.event)
