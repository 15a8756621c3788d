"""The template language: field lookups, filters, types, and what is refused at load."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callscribe.domain import CallEvent
from callscribe.errors import SinkError
from callscribe.mapping.body import nest, parse_table
from callscribe.mapping.fields import ROUTE_SCOPE, SINK_SCOPE, Subject
from callscribe.mapping.template import Env, Template

MOSCOW = Env(ZoneInfo("Europe/Moscow"))
EVENT = CallEvent(
    "pbx",
    "1718000000.42",
    started_at=datetime(2026, 1, 15, 21, 30, tzinfo=UTC),
    client_number="8 (999) 123-45-67",
    raw={"fields": {"n": "12,5", "flag": "да", "empty": ""}, "list": [{"x": "first"}]},
)


def render(text: str, env: Env = MOSCOW) -> Any:
    return Template.parse(text, SINK_SCOPE).render(Subject(EVENT), env)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{call.client_number|phone_e164}", "+79991234567"),
        ("{call.client_number|phone_digits}", "79991234567"),
        ("{call.client_number|phone_8}", "89991234567"),
        ("{call.started_at|date:%d.%m.%Y %H:%M}", "16.01.2026 00:30"),
        ("{call.started_at|utc_date:%Y-%m-%d}", "2026-01-15"),
        ("{call.started_at|iso}", "2026-01-16T00:30:00+03:00"),
        ("{call.started_at|unix}", 1768512600),
        ("{call.started_at}", datetime(2026, 1, 15, 21, 30, tzinfo=UTC)),
        ("{fields.n|number}", 12.5),
        ("{fields.flag|boolean}", True),
        ("{fields.empty|default:нет}", "нет"),
        ("{fields.absent|default:-}", "-"),
        ("{fields.absent}", None),
        ("{raw.list.0.x|truncate:3}", "fir"),
        ("Звонок {call.external_id} от {fields.absent}", "Звонок 1718000000.42 от "),
        ("{{literal}} {call.source}", "{literal} pbx"),
        ("{call.has_recording|string}", "false"),
        ("{transcript.dialogue}", None),
    ],
)
def test_templates_render(template: str, expected: Any) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(
    ("phone", "e164"),
    [("+7 (495) 123-45-67", "+74951234567"), ("9161234567", "+79161234567"),
     ("+380 44 123 4567", "+380441234567"), ("101", "101"), ("anonymous", None)],
)  # fmt: skip
def test_phone_numbers_are_normalised(phone: str, e164: str | None) -> None:
    event = CallEvent("pbx", "1", client_number=phone)
    template = Template.parse("{call.client_number|phone_e164}", SINK_SCOPE)
    assert template.render(Subject(event), MOSCOW) == e164


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{call.phone}", "unknown field 'call.phone'"),
        ("{customer.x}", "a path starts with one of call.*"),
        ("{call.client_number|e164}", "unknown filter 'e164'"),
        ("{call.external_id|truncate:x}", "truncate needs a number"),
        ("{call.started_at|date:YYYY}", "has no %-codes"),
        ("{call.source|number:2}", "takes no argument"),
        ("{call.source", "without its '}'"),
        ("call.source}", "without its '{'"),
        ("{call}", "is not a field path"),
    ],
)
def test_bad_templates_are_refused_when_parsed(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        Template.parse(template, SINK_SCOPE)


def test_routes_cannot_read_what_is_known_only_after_transcription() -> None:
    with pytest.raises(ValueError, match=r"unknown field 'transcript\.dialogue'"):
        Template.parse("{transcript.dialogue}", ROUTE_SCOPE)
    with pytest.raises(ValueError, match=r"unknown field 'call\.id'"):
        Template.parse("{call.id}", ROUTE_SCOPE)


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{fields.flag|number}", "'да' is not a number"),
        ("{fields.n|boolean}", "not true or false"),
        ("{fields.flag|date}", "not a date"),
    ],
)
def test_a_value_that_does_not_fit_its_filter_is_a_sink_error(template: str, value: str) -> None:
    with pytest.raises(SinkError, match=value) as failed:
        render(template)
    assert not failed.value.retryable


def test_tables_are_flattened_to_dotted_paths_and_nested_back() -> None:
    entries = parse_table(
        {"customer": {"mobilePhone": "{call.client_number}"}, "a.b": 1}, SINK_SCOPE
    )
    assert [e.path for e in entries] == ["customer.mobilePhone", "a.b"]
    assert nest([("customer.mobilePhone", "+7"), ("a.b", 1)]) == {
        "customer": {"mobilePhone": "+7"},
        "a": {"b": 1},
    }


def test_a_table_names_every_bad_key() -> None:
    with pytest.raises(ValueError, match="unknown field") as refused:
        parse_table({"a": {"b": "{call.nope}"}, "a.b.c": 1, "d": {"e": "{x.y}"}}, SINK_SCOPE)
    text = str(refused.value)
    assert "a.b: unknown field 'call.nope'" in text
    assert "d.e: unknown field 'x.y'" in text
