"""A corrected transcript (``callscribe retranscribe --redeliver``) as each sink sends it,
against the vendors' stand-ins: a new comment marked as corrected on the same Usedesk
ticket or Okdesk issue, the same Qolio ``uid`` again, a new delivery with the version for
callscribe's own JSON; each once, whatever the retries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.jsonl import JsonlSink, JsonlSinkConfig
from callscribe.connectors.sinks.okdesk import OkdeskSink, OkdeskSinkConfig
from callscribe.connectors.sinks.qolio import QolioSink, QolioSinkConfig
from callscribe.connectors.sinks.usedesk import UsedeskSink, UsedeskSinkConfig
from callscribe.domain import Speaker
from callscribe.store.codec import idempotency_key
from tests.integration.sink_calls import Attempts, call, dialogue, transcript
from tests.standins.okdesk import OkdeskStandIn
from tests.standins.qolio import QolioStandIn
from tests.standins.usedesk import UsedeskStandIn

TOKEN = "revision-token-0123456789"
FIRST = idempotency_key("pbx", "1718000000.42", "helpdesk")
SECOND = idempotency_key("pbx", "1718000000.42", "helpdesk", 2)
CORRECTED = transcript(
    (Speaker.OPERATOR, 0.5, "Добрый день, компания «Ромашка», Иван."),
    (Speaker.CLIENT, 3.2, "Здравствуйте, вопрос по заказу № 16."),
)


@dataclasses.dataclass
class Delivery:
    """One delivery's attempts: the first of a call (version 1), or of a newer transcript,
    which knows what the first one saved."""

    attempts: Attempts
    version: int = 1
    revises: dict[str, Any] | None = None

    def context(self) -> DeliveryContext:
        return dataclasses.replace(
            self.attempts.context(), version=self.version, revises=self.revises
        )


def first() -> Delivery:
    return Delivery(Attempts(FIRST))


def revision(earlier: Delivery) -> Delivery:
    return Delivery(Attempts(SECOND), version=2, revises=dict(earlier.attempts.progress))


@pytest.fixture
def usedesk() -> Iterator[UsedeskStandIn]:
    with UsedeskStandIn(TOKEN) as server:
        yield server


async def test_usedesk_gets_a_corrected_comment_on_the_same_ticket(usedesk: UsedeskStandIn) -> None:
    config = UsedeskSinkConfig.model_validate(
        {"type": "usedesk", "url": usedesk.url, "api_token": TOKEN}
    )
    sink = UsedeskSink("helpdesk", config, RenderSettings())
    try:
        original = first()
        ticket = await sink.deliver(call(), dialogue(), original.context())
        second = revision(original)
        for _ in range(2):  # a retry after its answer was recorded posts nothing more
            assert await sink.deliver(call(), CORRECTED, second.context()) == ticket
    finally:
        await sink.aclose()

    original, corrected = usedesk.comments(int(str(ticket)))
    assert original["message"].startswith("Расшифровка звонка")
    assert corrected["message"].startswith("Исправленная расшифровка звонка")
    assert "заказу № 16" in corrected["message"]
    assert f"callscribe {SECOND[4:20]} 1/1" in corrected["message"]


async def test_okdesk_gets_a_corrected_comment_on_the_same_issue() -> None:
    with OkdeskStandIn(TOKEN, employees={12}) as okdesk:
        config = OkdeskSinkConfig.model_validate(
            {"type": "okdesk", "url": okdesk.url, "api_token": TOKEN, "markup": "text"}
        )
        sink = OkdeskSink("helpdesk", config, RenderSettings())
        try:
            original = first()
            issue = await sink.deliver(call(), dialogue(), original.context())
            assert await sink.deliver(call(), CORRECTED, revision(original).context()) == issue
        finally:
            await sink.aclose()
        original, corrected = okdesk.issues[int(str(issue))]["comments"]
    assert original["content"].startswith("Расшифровка звонка\n[00:00]")
    # The issue callscribe made describes the call: the corrected comment has no header.
    assert corrected["content"].startswith("Исправленная расшифровка звонка\n[00:00]")
    assert len(okdesk.issues) == 1


async def test_qolio_gets_the_same_uid_with_the_new_text() -> None:
    with QolioStandIn(TOKEN, operators={"101"}) as qolio:
        config = QolioSinkConfig.model_validate(
            {"type": "qolio", "url": qolio.integration_url, "token": TOKEN}
        )
        sink = QolioSink("qolio", config, RenderSettings())
        try:
            original = first()
            await sink.deliver(call(), dialogue(), original.context())
            await sink.deliver(call(), CORRECTED, revision(original).context())
        finally:
            await sink.aclose()
        before, after = qolio.posts()
    assert before["uid"] == after["uid"] == "pbx-1718000000.42"
    assert after["transcription"][1]["text"] == "Здравствуйте, вопрос по заказу № 16."


async def test_the_archive_gets_a_line_with_the_version(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    sink = JsonlSink("archive", JsonlSinkConfig(type="jsonl", path=path), RenderSettings())
    original = first()
    await sink.deliver(call(), dialogue(), original.context())
    for _ in range(2):  # the same key again writes nothing
        await sink.deliver(call(), CORRECTED, revision(original).context())
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [(line["transcript_version"], line["revision"]) for line in lines] == [
        (1, False), (2, True),
    ]  # fmt: skip
    assert lines[1]["idempotency_key"] == SECOND
