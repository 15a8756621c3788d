"""The mapped HTTP request sink against local APIs: each body format byte for byte,
Cyrillic, nested dotted paths, typed values, GET with a query, secrets in headers, the
remote id from the answer, status handling, and seed 004's Mindbox request."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.config.loader import load_settings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.http import HttpSink
from callscribe.connectors.sinks.http_config import HttpSinkConfig
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
from tests.standins.http_api import ApiServer
from tests.standins.mindbox import MindboxServer

KEY = "cs1-" + "ab" * 32


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server  # type: ignore[misc]


def config(tmp_path: Path, body: str) -> HttpSinkConfig:
    path = tmp_path / "callscribe.toml"
    path.write_text(f'[sinks.api]\ntype = "http"\n{body}', encoding="utf-8")
    sink = load_settings(path, environ={"MINDBOX_KEY": "s3cr3t-key"}).sinks["api"]
    assert isinstance(sink, HttpSinkConfig)
    return sink


def call(**changes: Any) -> Call:
    fields: dict[str, Any] = {
        "direction": Direction.INBOUND,
        "started_at": datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC),
        "answered_at": datetime(2026, 3, 2, 7, 0, 5, tzinfo=UTC),
        "ended_at": datetime(2026, 3, 2, 7, 1, 5, tzinfo=UTC),
        "client_number": "8 (999) 123-45-67",
        "operator_id": "7",
        "operator_name": "Иван Петров",
        "recordings": (RecordingRef("https://pbx.example/r.wav"),),
        "raw": {
            "fields": {"sessionId": "s-1", "utm_campaign": "весна & лето"},
            "targetCall": "true",
        },
    } | changes
    return Call(
        42, CallEvent("ct", "ct-100500", **fields), CallState.TRANSCRIBED, datetime.now(UTC)
    )


TRANSCRIPT = Transcript(
    segments=(
        Segment(Speaker.OPERATOR, 1.0, 2.0, "Здравствуйте, компания «Ромашка».", -0.1, 0.0),
        Segment(Speaker.CLIENT, 3.0, 4.5, "Добрый день!", -0.1, 0.0),
    ),
    duration=65.0,
    language="ru",
    model="base",
)


async def deliver(sink_config: HttpSinkConfig, the_call: Call | None = None) -> str | None:
    async def save(_: Mapping[str, Any]) -> None:
        return None

    sink = HttpSink("api", sink_config, RenderSettings())
    try:
        return await sink.deliver(the_call or call(), TRANSCRIPT, DeliveryContext(KEY, {}, save))
    finally:
        await sink.aclose()


async def test_a_json_body_is_nested_typed_and_exact(api: ApiServer, tmp_path: Path) -> None:
    sink = config(
        tmp_path,
        f"""url = "{api.url}/calls/{{call.external_id}}"
remote_id = "id"
body.call.id = "{{call.external_id}}"
body.call.phone = "{{call.client_number|phone_e164}}"
body.call.talk = "{{call.talk_seconds|number}}"
body.call.target = "{{raw.targetCall|boolean}}"
body.call.date = "{{call.started_at|date:%d.%m.%Y %H:%M}}"
body.comment = "{{transcript.dialogue}}"
body.who = "Оператор {{call.operator_name}}"
body.priority = 3
body.tags = ["call", "{{fields.utm_campaign}}"]
body.missing = "{{fields.nothing}}"
""",
    )
    assert await deliver(sink) == "remote-1"
    (request,) = api.received
    assert request.method == "POST"
    assert request.path == "/calls/ct-100500"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["idempotency-key"] == KEY
    expected = (
        '{"call":{"id":"ct-100500","phone":"+79991234567","talk":60,"target":true,'
        '"date":"02.03.2026 07:00"},'
        '"comment":"[00:01] Оператор: Здравствуйте, компания «Ромашка».\\n'
        '[00:03] Клиент: Добрый день!\\n",'
        '"who":"Оператор Иван Петров","priority":3,"tags":["call","весна & лето"]}'
    )
    assert request.body == expected.encode("utf-8")


async def test_a_form_body_uses_dotted_keys(api: ApiServer, tmp_path: Path) -> None:
    sink = config(
        tmp_path,
        f"""url = "{api.url}/form"
body_format = "form"
time_zone = "Europe/Moscow"
body.customer.phone = "{{call.client_number|phone_8}}"
body.customer.name = "{{call.operator_name}}"
body.when = "{{call.started_at|iso}}"
body.ok = true
""",
    )
    await deliver(sink)
    (request,) = api.received
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == (
        b"customer.phone=89991234567&customer.name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5%D1%82"
        b"%D1%80%D0%BE%D0%B2&when=2026-03-02T10%3A00%3A00%2B03%3A00&ok=true"
    )


async def test_an_xml_body_is_nested_elements(api: ApiServer, tmp_path: Path) -> None:
    sink = config(
        tmp_path,
        f"""url = "{api.url}/xml"
method = "PUT"
body_format = "xml"
xml_root = "call"
body.client.phone = "{{call.client_number|phone_digits}}"
body.client.note = "<Ромашка> & co"
body.seconds = "{{call.talk_seconds}}"
""",
    )
    await deliver(sink)
    (request,) = api.received
    assert request.method == "PUT"
    assert request.headers["content-type"] == "application/xml; charset=utf-8"
    assert (
        request.body
        == (
            '<?xml version="1.0" encoding="UTF-8"?><call><client><phone>79991234567</phone>'
            "<note>&lt;Ромашка&gt; &amp; co</note></client><seconds>60</seconds></call>"
        ).encode()
    )


async def test_a_get_sends_the_body_fields_as_its_query(api: ApiServer, tmp_path: Path) -> None:
    sink = config(
        tmp_path,
        f"""url = "{api.url}/lookup/{{fields.utm_campaign}}?fixed=1"
method = "GET"
query.source = "{{call.source}}"
body.phone = "{{call.client_number|phone_e164}}"
body.name = "{{call.operator_name|truncate:4}}"
""",
    )
    await deliver(sink)
    (request,) = api.received
    assert request.method == "GET"
    assert request.body == b""
    assert "content-type" not in request.headers
    assert request.path == "/lookup/%D0%B2%D0%B5%D1%81%D0%BD%D0%B0%20%26%20%D0%BB%D0%B5%D1%82%D0%BE"
    assert (
        request.raw_query == "fixed=1&source=ct&phone=%2B79991234567&name=%D0%98%D0%B2%D0%B0%D0%BD"
    )


async def test_secrets_go_into_headers_and_are_never_in_the_config_dump(
    api: ApiServer, tmp_path: Path
) -> None:
    sink = config(
        tmp_path,
        f"""url = "{api.url}/x"
secrets.key = "env:MINDBOX_KEY"
headers.Authorization = 'Mindbox secretKey="{{secrets.key}}"'
headers.Idempotency-Key = "{{call.external_id}}"
idempotency_header = "X-Request-Id"
""",
    )
    await deliver(sink)
    (request,) = api.received
    assert request.headers["authorization"] == 'Mindbox secretKey="s3cr3t-key"'
    assert request.headers["x-request-id"] == KEY
    assert request.headers["idempotency-key"] == "ct-100500"
    assert "s3cr3t" not in str(sink.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (429, True), (400, False), (301, False)]
)
async def test_answers_decide_retry_or_dead_letter(
    tmp_path: Path, status: int, retryable: bool
) -> None:
    with ApiServer(answers=[status]) as server:
        sink = config(tmp_path, f'url = "{server.url}/x"\nbody.id = "{{call.external_id}}"\n')
        with pytest.raises(SinkError) as failed:
            await deliver(sink)
    assert failed.value.retryable is retryable
    assert str(status) in str(failed.value)


async def test_a_value_that_does_not_fit_its_type_is_a_dead_letter_naming_the_key(
    api: ApiServer, tmp_path: Path
) -> None:
    sink = config(tmp_path, f'url = "{api.url}/x"\nbody.a.b = "{{fields.utm_campaign|number}}"\n')
    with pytest.raises(SinkError, match=r"body\.a\.b: 'весна & лето' is not a number") as failed:
        await deliver(sink)
    assert not failed.value.retryable
    assert api.received == []


MINDBOX = """url = "{url}/v3/operations/async"
query.endpointId = "Example.Website"
query.operation = "{operation}"
{device}
secrets.key = "env:MINDBOX_KEY"
headers.Content-Type = "application/json; charset=utf-8"
headers.Accept = "application/json"
headers.Authorization = 'Mindbox secretKey="{{secrets.key}}"'
body.customer.mobilePhone = "{{call.client_number|phone_e164}}"
body.customerAction.customFields.callId = "{{call.external_id}}"
body.customerAction.customFields.utmCampaign = "{{fields.utm_campaign}}"
"""


@pytest.mark.parametrize("operation", ["CallTouch", "CallTouchStatic"])
async def test_the_seed_mindbox_request_is_accepted(tmp_path: Path, operation: str) -> None:
    device = 'query.deviceUUID = "{fields.mindboxDeviceUUID}"' if operation == "CallTouch" else ""
    with MindboxServer("s3cr3t-key", "Example.Website") as mindbox:
        sink = config(tmp_path, MINDBOX.format(url=mindbox.url, operation=operation, device=device))
        the_call = call(raw={"fields": {"mindboxDeviceUUID": "d-1", "utm_campaign": "весна"}})
        await deliver(sink, the_call)
    (request,) = mindbox.operations(operation)
    assert request.json() == {
        "customer": {"mobilePhone": "+79991234567"},
        "customerAction": {"customFields": {"callId": "ct-100500", "utmCampaign": "весна"}},
    }
