"""The Qolio sink against a stand-in written from Qolio's API page (tests/standins/qolio.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.connectors.sinks.qolio import QolioSink, QolioSinkConfig
from callscribe.domain import Direction
from callscribe.errors import SinkError
from tests.integration.sink_calls import Attempts, call, dialogue, missed_call, retried
from tests.standins.qolio import NO_ACTIVE_OPERATOR, QolioStandIn

TOKEN = "qolio-integration-token-5f2e"
RECORDING = "https://pbx.example/rec/42.mp3?sig=abc"


@pytest.fixture
def qolio() -> Iterator[QolioStandIn]:
    with QolioStandIn(TOKEN, operators={"ivan@example.com", "007"}) as server:
        yield server


def make_sink(server: QolioStandIn, **settings: Any) -> QolioSink:
    config = QolioSinkConfig.model_validate(
        {
            "type": "qolio",
            "url": server.integration_url,
            "token": TOKEN,
            "operators": {"101": "ivan@example.com"},
            **settings,
        }
    )
    return QolioSink("qa", config, RenderSettings())


@pytest.fixture
async def sink(qolio: QolioStandIn) -> AsyncIterator[QolioSink]:
    sink = make_sink(qolio, custom_fields={"line": "line_number", "deal": "raw.fields.deal"})
    yield sink
    await sink.aclose()


async def test_a_call_arrives_with_its_transcript_operator_and_client_apart(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    attempts = Attempts()
    the_call = call(line_number="+74950000000", raw={"fields": {"deal": 42}})
    remote = await sink.deliver(the_call, dialogue(), attempts.context(RECORDING))

    (request,) = qolio.requests("POST", "/api/v1/integrations/")
    assert request.headers["authorization"] == TOKEN  # raw, no "Bearer"
    assert request.path.endswith("/phone_calls")
    body = request.json()
    assert body == {
        "uid": "pbx-1718000000.42",
        "operator_id": "ivan@example.com",
        "direction": "incoming",
        "duration": 187.4,
        "started_at": "2026-11-21T10:00:00+03:00",
        "client_phone_number": "79991234567",
        "media_url": RECORDING,
        "custom_fields": {"line": "+74950000000", "deal": 42},
        "transcription": [
            {
                "text": "Добрый день, компания «Ромашка», Иван.",
                "start_time": 0.5,
                "end_time": 2.5,
                "role": "operator",
            },
            {
                "text": "Здравствуйте, вопрос по заказу № 15.",
                "start_time": 3.2,
                "end_time": 5.2,
                "role": "client",
            },
            {
                "text": "Сейчас посмотрю & уточню <детали>.",
                "start_time": 6.0,
                "end_time": 8.0,
                "role": "operator",
            },
        ],
    }
    assert "Добрый день".encode() in request.body  # UTF-8 as it is, not \u escapes
    assert remote == "pbx-1718000000.42"
    assert attempts.progress["uid"] == "pbx-1718000000.42"


async def test_without_a_link_the_recording_is_left_out(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    await sink.deliver(call(direction=Direction.OUTBOUND), dialogue(), Attempts().context())
    (body,) = qolio.posts()
    assert "media_url" not in body
    assert body["direction"] == "outcoming"


async def test_an_operator_not_listed_is_sent_as_it_is_and_none_takes_the_default(
    qolio: QolioStandIn,
) -> None:
    sink = make_sink(qolio, default_operator="007")
    await sink.deliver(call("a", operator_id="007"), dialogue(), Attempts().context())
    await sink.deliver(call("b", operator_id=None), dialogue(), Attempts().context())
    await sink.aclose()
    assert [p["operator_id"] for p in qolio.posts()] == ["007", "007"]


async def test_an_operator_qolio_does_not_know_is_a_dead_letter_naming_it(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    with pytest.raises(SinkError) as refused:
        await sink.deliver(call(operator_id="555"), dialogue(), Attempts().context())
    assert not refused.value.retryable
    assert "'555'" in str(refused.value)
    assert NO_ACTIVE_OPERATOR in str(refused.value)
    assert "operators" in str(refused.value)


async def test_a_call_without_operator_or_default_is_refused_before_posting(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    with pytest.raises(SinkError, match="default_operator") as refused:
        await sink.deliver(call(operator_id=None), dialogue(), Attempts().context())
    assert not refused.value.retryable
    assert qolio.received == []


async def test_a_refused_token_names_the_sink_and_the_setting(qolio: QolioStandIn) -> None:
    sink = make_sink(qolio, token="Bearer " + TOKEN)
    with pytest.raises(SinkError) as refused:
        await sink.deliver(call(), dialogue(), Attempts().context())
    await sink.aclose()
    assert not refused.value.retryable
    assert str(refused.value).startswith("Qolio refused the credentials (HTTP 401")
    assert "check token in [sinks.qa]" in str(refused.value)
    assert TOKEN not in str(refused.value)


async def test_429_is_retried_when_qolio_says_and_then_succeeds(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    qolio.fail_next(429, retry_after="7")
    (busy,) = await retried(sink, call(), dialogue(), Attempts(), failures=1)
    assert busy.retry_after == 7.0
    assert list(qolio.calls) == ["pbx-1718000000.42"]


async def test_500s_are_retried_and_then_succeed(qolio: QolioStandIn, sink: QolioSink) -> None:
    qolio.fail_next(500, times=2)
    await retried(sink, call(), dialogue(), Attempts(), failures=2)
    assert len(qolio.calls) == 1


async def test_a_repeat_after_a_lost_answer_names_the_same_call(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    qolio.drop_after("POST", "/api/v1/integrations/")
    await retried(sink, call(), dialogue(), Attempts(), failures=1)
    assert [p["uid"] for p in qolio.posts()] == ["pbx-1718000000.42"] * 2
    assert len(qolio.calls) == 1


async def test_a_missed_call_goes_without_transcription(
    qolio: QolioStandIn, sink: QolioSink
) -> None:
    await sink.deliver(missed_call(), None, Attempts().context())
    (body,) = qolio.posts()
    assert "transcription" not in body
    assert body["duration"] == 192.0  # start to end: nobody answered


def test_the_integration_url_may_be_given_with_or_without_phone_calls() -> None:
    for url in ("https://api.prod1.qolio.ru/api/v1/integrations/x", "https://h/i/x/phone_calls"):
        config = QolioSinkConfig.model_validate({"type": "qolio", "url": url, "token": "t"})
        sink = QolioSink("qa", config, RenderSettings())
        assert sink._api.base_url.endswith("/x/phone_calls")
