"""The Usedesk sink against a stand-in written from Usedesk's API pages
(tests/standins/usedesk.py): which ticket, what the comment says, split and exactly once."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.connectors.sinks.usedesk import UsedeskSink, UsedeskSinkConfig
from callscribe.errors import SinkError
from tests.integration.sink_calls import (
    KEY,
    Attempts,
    call,
    dialogue,
    long_dialogue,
    missed_call,
    retried,
)
from tests.standins.usedesk import MAX_MESSAGE_BYTES, UsedeskStandIn

TOKEN = "usedesk-channel-token-0c9d"
PHONE = "79991234567"  # as the client card holds it
RECORDING = "https://pbx.example/rec/42.wav?token=a&b=c"
MARKER = "callscribe 6f1c2a9b4d3e5f60"


@pytest.fixture
def usedesk() -> Iterator[UsedeskStandIn]:
    with UsedeskStandIn(TOKEN) as server:
        yield server


def make_sink(server: UsedeskStandIn, **settings: Any) -> UsedeskSink:
    config = UsedeskSinkConfig.model_validate(
        {"type": "usedesk", "url": server.url, "api_token": TOKEN, **settings}
    )
    return UsedeskSink("helpdesk", config, RenderSettings())


@pytest.fixture
async def sink(usedesk: UsedeskStandIn) -> AsyncIterator[UsedeskSink]:
    sink = make_sink(usedesk, agents={"101": 77}, time_zone="Europe/Moscow")
    yield sink
    await sink.aclose()


async def test_the_clients_latest_open_ticket_gets_a_private_comment(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    client = usedesk.add_client(PHONE)
    older_open = usedesk.add_ticket(client, status=1)
    latest_open = usedesk.add_ticket(client, status=6)
    usedesk.add_ticket(client, status=3)  # the newest is closed
    remote = await sink.deliver(call(), dialogue(), Attempts().context(RECORDING))

    assert remote == str(latest_open)
    assert usedesk.comments(older_open) == []
    (comment,) = usedesk.comments(latest_open)
    assert comment["type"] == "private"
    assert comment["message"] == "<br>".join(
        [
            "Расшифровка звонка",
            "Тип: входящий звонок",
            "Статус: успех",
            "Номер клиента: +7 (999) 123-45-67",
            "ID оператора: 101",
            "Начало: 21.11.2026 10:00:00",
            "Завершение: 21.11.2026 10:03:12",
            "Оператор: Иван Петров",
            "Продолжительность: 00:03:07",
            f'Запись разговора: <a href="{html.escape(RECORDING)}">{html.escape(RECORDING)}</a>',
            "",
            "[00:00] Оператор: Добрый день, компания «Ромашка», Иван.",
            "[00:03] Клиент: Здравствуйте, вопрос по заказу № 15.",
            "[00:06] Оператор: Сейчас посмотрю &amp; уточню &lt;детали&gt;.",
            "",
            f"{MARKER} 1/1",
        ]
    )
    search = usedesk.requests("POST", "/clients")[0].json()
    assert search == {"api_token": TOKEN, "query": PHONE, "search_type": "full_match"}
    posted = usedesk.requests("POST", "/create/comment")[0]
    assert "Клиент: Здравствуйте".encode() in posted.body  # UTF-8 as it is
    assert usedesk.requests("POST", "/create/ticket") == []


async def test_a_ticket_named_in_the_call_fields_is_used(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    ticket = usedesk.add_ticket(usedesk.add_client("70000000000"), status=2)
    the_call = call(raw={"fields": {"usedesk_ticket_id": str(ticket)}})
    assert await sink.deliver(the_call, dialogue(), Attempts().context()) == str(ticket)
    assert len(usedesk.comments(ticket)) == 1
    assert usedesk.requests("POST", "/clients") == []


async def test_a_ticket_field_that_is_not_an_id_is_a_dead_letter(sink: UsedeskSink) -> None:
    the_call = call(raw={"fields": {"usedesk_ticket_id": "12a"}})
    with pytest.raises(
        SinkError,
        match=r"^the call's raw\.fields\.usedesk_ticket_id is not an id: expected a positive",
    ):
        await sink.deliver(the_call, dialogue(), Attempts().context())


async def test_a_client_without_an_open_ticket_gets_a_new_one(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    client = usedesk.add_client(PHONE)
    closed = usedesk.add_ticket(client, status=3)
    remote = await sink.deliver(call(), dialogue(), Attempts().context())

    (created,) = usedesk.requests("POST", "/create/ticket")
    body = created.json()
    assert body["client_id"] == client
    assert body["subject"] == "Звонок +7 (999) 123-45-67"
    assert body["private_comment"] is True
    assert body["assignee_id"] == 77  # the operator's agent
    assert body["additional_id"] == KEY
    assert remote is not None
    assert int(remote) != closed
    (comment,) = usedesk.comments(int(remote))
    assert comment["type"] == "private"
    assert comment["message"].startswith("Расшифровка звонка<br>Тип: входящий звонок")
    assert usedesk.requests("POST", "/create/comment") == []  # the ticket carried it


async def test_an_unknown_number_makes_a_new_client_with_that_phone(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    remote = await sink.deliver(call(), dialogue(), Attempts().context())
    body = usedesk.requests("POST", "/create/ticket")[0].json()
    assert body["client_id"] == "new_client"
    assert body["client_phone"] == PHONE
    assert usedesk.clients[usedesk.tickets[int(str(remote))]["client_id"]]["phone"] == PHONE


async def test_a_missed_call_is_noted_without_a_dialogue(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    await sink.deliver(missed_call(), None, Attempts().context())
    body = usedesk.requests("POST", "/create/ticket")[0].json()
    assert body["subject"] == "Пропущенный звонок +7 (999) 123-45-67"
    assert "Статус: не успех" in body["message"]
    assert "Оператор:" in body["message"]
    assert "[00:" not in body["message"]
    assert "Запись разговора" not in body["message"]


async def test_without_a_link_the_comment_says_the_recording_stays_on_the_pbx(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    await sink.deliver(call(), dialogue(), Attempts().context(recording_url=None))
    message = usedesk.requests("POST", "/create/ticket")[0].json()["message"]
    assert "Запись разговора: хранится на АТС, ссылки для прослушивания нет" in message


async def test_a_long_call_is_split_into_parts_under_the_limit(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    ticket = usedesk.add_ticket(usedesk.add_client(PHONE), status=1)
    attempts = Attempts()
    await sink.deliver(call(), long_dialogue(1500), attempts.context())

    messages = [c["message"] for c in usedesk.comments(ticket)]
    total = len(messages)
    assert total > 1
    for number, message in enumerate(messages, start=1):
        assert len(message.encode()) <= 60_000 < MAX_MESSAGE_BYTES
        assert message.startswith(f"Расшифровка звонка (часть {number} из {total})<br>")
        assert message.endswith(f"{MARKER} {number}/{total}")
    assert "Тип: входящий звонок" in messages[0]
    assert "Тип:" not in messages[1]
    said = [int(n) for m in messages for n in re.findall(r"Реплика номер (\d+):", m)]
    assert said == list(range(1500))  # every turn once, in order: split, not cut
    assert set(attempts.progress["comments"]) == {str(n) for n in range(1, total + 1)}


async def test_a_comment_whose_answer_was_lost_is_found_not_posted_twice(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    ticket = usedesk.add_ticket(usedesk.add_client(PHONE), status=1)
    usedesk.drop_after("POST", "/create/comment")
    attempts = Attempts()
    with pytest.raises(SinkError) as lost:
        await sink.deliver(call(), dialogue(), attempts.context())
    assert lost.value.retryable
    assert attempts.progress["posting"] == 1

    await sink.deliver(call(), dialogue(), attempts.context())
    assert len(usedesk.comments(ticket)) == 1
    assert len(usedesk.requests("POST", "/create/comment")) == 1
    assert attempts.progress["comments"] == {"1": str(usedesk.comments(ticket)[0]["id"])}


async def test_a_ticket_created_but_not_fully_commented_is_reused(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    usedesk.fail_next(503, path="/create/comment")
    await retried(sink, call(), long_dialogue(1500), Attempts(), failures=1)

    assert len(usedesk.requests("POST", "/create/ticket")) == 1
    (ticket,) = usedesk.tickets.values()
    markers = [c["message"].rsplit(" ", 1)[1] for c in ticket["comments"]]
    assert markers == [f"{n}/{len(markers)}" for n in range(1, len(markers) + 1)]
    assert len(markers) > 2


async def test_a_ticket_whose_creation_went_unanswered_is_found_by_its_first_part(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    usedesk.drop_after("POST", "/create/ticket")
    attempts = Attempts()
    await retried(sink, call(), dialogue(), attempts, failures=1)

    assert len(usedesk.tickets) == 1
    assert attempts.progress["ticket_id"] == next(iter(usedesk.tickets))
    assert len(usedesk.requests("POST", "/create/ticket")) == 1
    # Created, it is also the client's latest open ticket: not a reason to post part 1 again.
    (ticket,) = usedesk.tickets
    assert len(usedesk.comments(ticket)) == 1
    assert usedesk.requests("POST", "/create/comment") == []


async def test_a_refused_token_names_the_sink_and_api_token(usedesk: UsedeskStandIn) -> None:
    sink = make_sink(usedesk, api_token="wrong-" + TOKEN)
    with pytest.raises(SinkError) as refused:
        await sink.deliver(call(), dialogue(), Attempts().context())
    await sink.aclose()
    assert not refused.value.retryable
    assert str(refused.value).startswith("Usedesk refused the credentials (HTTP 401")
    assert "check api_token in [sinks.helpdesk]" in str(refused.value)


async def test_an_error_in_a_200_answer_is_a_dead_letter_with_usedesk_words(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    usedesk.fail_next(200, path="/clients", body={"error": "Канал отключён"})
    with pytest.raises(SinkError, match="Usedesk refused the client search: Канал отключён"):
        await sink.deliver(call(), dialogue(), Attempts().context())


async def test_429_then_success(usedesk: UsedeskStandIn, sink: UsedeskSink) -> None:
    usedesk.fail_next(429, path="/create/ticket", retry_after="30")
    (busy,) = await retried(sink, call(), dialogue(), Attempts(), failures=1)
    assert busy.retry_after == 30.0
    assert len(usedesk.tickets) == 1


async def test_a_call_without_a_number_gets_a_ticket_of_its_own(
    usedesk: UsedeskStandIn, sink: UsedeskSink
) -> None:
    await sink.deliver(call(client_number=None), dialogue(), Attempts().context())
    body = usedesk.requests("POST", "/create/ticket")[0].json()
    assert body["subject"] == "Звонок (номер скрыт)"
    assert not {"client_id", "client_phone"} & set(body)
    assert usedesk.requests("POST", "/clients") == []
