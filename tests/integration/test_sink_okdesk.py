"""The Okdesk sink against a stand-in written from Okdesk's API page and working clients
(tests/standins/okdesk.py): who called, which issue, the comment, exactly once, and the
api_token kept out of every reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from callscribe.config import RenderSettings
from callscribe.connectors.sinks.okdesk import OkdeskSink, OkdeskSinkConfig
from callscribe.errors import SinkError
from callscribe.testing import free_port
from tests.integration.sink_calls import Attempts, call, dialogue, missed_call, retried
from tests.standins.okdesk import OkdeskStandIn

TOKEN = "3e9a214215f493c4okdesk"
E164 = "+79991234567"
IVAN = 12  # the employee whose «Добавочный номер» is 101


@pytest.fixture
def okdesk() -> Iterator[OkdeskStandIn]:
    with OkdeskStandIn(TOKEN, employees={IVAN, 13}) as server:
        yield server


def make_sink(server: OkdeskStandIn | str, **settings: Any) -> OkdeskSink:
    url = server if isinstance(server, str) else server.url
    config = OkdeskSinkConfig.model_validate(
        {"type": "okdesk", "url": url, "api_token": TOKEN, "employees": {"101": IVAN}, **settings}
    )
    return OkdeskSink("support", config, RenderSettings())


@pytest.fixture
async def sink(okdesk: OkdeskStandIn) -> AsyncIterator[OkdeskSink]:
    sink = make_sink(okdesk, markup="text")
    yield sink
    await sink.aclose()


async def test_a_known_contact_gets_an_issue_with_the_transcript_as_a_comment(
    okdesk: OkdeskStandIn, sink: OkdeskSink
) -> None:
    contact = okdesk.add_contact("Анна", "Смирнова", E164)
    attempts = Attempts()
    remote = await sink.deliver(call(), dialogue(), attempts.context())

    (search,) = okdesk.requests("GET", "/api/v1/contacts/")
    assert "phone=%2B79991234567" in search.raw_query  # "+" as %2B, as Okdesk asks
    issue = okdesk.issues[int(str(remote))]
    assert issue["title"] == "Звонок +7 (999) 123-45-67"
    assert issue["contact_id"] == contact
    assert issue["assignee_id"] == IVAN
    assert issue["description"].startswith("Тип: входящий звонок\nСтатус: успех\nНомер")
    (comment,) = issue["comments"]
    assert comment["public"] is False
    assert (comment["author_id"], comment["author_type"]) == (IVAN, "employee")
    assert comment["content"] == "\n".join(
        [
            "Расшифровка звонка",
            "[00:00] Оператор: Добрый день, компания «Ромашка», Иван.",
            "[00:03] Клиент: Здравствуйте, вопрос по заказу № 15.",
            "[00:06] Оператор: Сейчас посмотрю & уточню <детали>.",
            "",
            "callscribe 6f1c2a9b4d3e5f60 1/1",
        ]
    )
    posted = okdesk.requests("POST", f"/api/v1/issues/{remote}/comments")[0]
    assert "Оператор: Добрый день".encode() in posted.body
    assert attempts.progress["contact_id"] == contact
    assert attempts.progress["issue_created"] is True


async def test_a_company_is_found_when_no_contact_has_the_number(
    okdesk: OkdeskStandIn, sink: OkdeskSink
) -> None:
    company = okdesk.add_company("ООО «Ромашка»", E164)
    remote = await sink.deliver(call(), dialogue(), Attempts().context())
    assert okdesk.issues[int(str(remote))]["company_id"] == company
    assert okdesk.requests("POST", "/api/v1/contacts/") == []


async def test_a_new_number_becomes_a_contact(okdesk: OkdeskStandIn, sink: OkdeskSink) -> None:
    remote = await sink.deliver(call(), dialogue(), Attempts().context())
    (created,) = okdesk.requests("POST", "/api/v1/contacts/")
    assert created.json() == {"contact": {"first_name": "Клиент", "last_name": E164, "phone": E164}}
    (contact,) = okdesk.contacts.values()
    assert okdesk.issues[int(str(remote))]["contact_id"] == contact["id"]


async def test_search_string_results_must_match_every_digit(okdesk: OkdeskStandIn) -> None:
    okdesk.add_contact("Пётр", "Длинный", "+799912345670")  # contains the number, is not it
    wanted = okdesk.add_contact("Анна", "Смирнова", "+7 999 123-45-67")
    sink = make_sink(okdesk, contact_search="search_string", phone_format="digits")
    remote = await sink.deliver(call(), dialogue(), Attempts().context())
    await sink.aclose()
    assert okdesk.issues[int(str(remote))]["contact_id"] != wanted  # "7999…" ≠ "+7 999 …"
    okdesk.contacts[wanted]["phone"] = "79991234567"
    sink = make_sink(okdesk, contact_search="search_string", phone_format="digits")
    remote = await sink.deliver(call("2"), dialogue(), Attempts("cs1-" + "1" * 64).context())
    await sink.aclose()
    assert okdesk.issues[int(str(remote))]["contact_id"] == wanted


async def test_the_issue_named_in_the_call_fields_gets_the_whole_comment(
    okdesk: OkdeskStandIn, sink: OkdeskSink
) -> None:
    issue = okdesk.add_issue("Не работает касса")
    the_call = call(raw={"fields": {"okdesk_issue_id": issue}})
    assert await sink.deliver(the_call, dialogue(), Attempts().context()) == str(issue)
    (comment,) = okdesk.comments(issue)
    assert comment["content"].startswith("Расшифровка звонка\nТип: входящий звонок")
    assert [r for r in okdesk.received if r.path == "/api/v1/issues/"] == []


async def test_a_missed_call_is_an_issue_of_its_own_without_a_transcript(
    okdesk: OkdeskStandIn, sink: OkdeskSink
) -> None:
    remote = await sink.deliver(missed_call(), None, Attempts().context())
    issue = okdesk.issues[int(str(remote))]
    assert issue["title"] == "Пропущенный звонок +7 (999) 123-45-67"
    assert "Статус: не успех" in issue["description"]
    assert issue["comments"] == []
    assert [r.path for r in okdesk.received if "/comments" in r.path] == []


async def test_a_comment_whose_answer_was_lost_is_looked_for_before_posting_again(
    okdesk: OkdeskStandIn, sink: OkdeskSink
) -> None:
    okdesk.drop_after("POST", r"/api/v1/issues/\d+/comments")
    await retried(sink, call(), dialogue(), Attempts(), failures=1)

    (issue,) = okdesk.issues.values()
    assert len(issue["comments"]) == 1
    assert len(okdesk.requests("GET", "/api/v1/issues/")) == 1  # the listing
    assert len(okdesk.requests("POST", r"/api/v1/issues/\d+/comments")) == 1


async def test_without_the_listing_a_lost_answer_means_posting_again(
    okdesk: OkdeskStandIn,
) -> None:
    okdesk.lists_comments = False
    okdesk.drop_after("POST", r"/api/v1/issues/\d+/comments")
    attempts = Attempts()
    sink = make_sink(okdesk)
    with pytest.raises(SinkError):
        await sink.deliver(call(), dialogue(), attempts.context())
    with pytest.raises(
        SinkError, match=r"^Okdesk answered HTTP 404: .* — GET \S+/api/v1/issues/\d+/comments;"
    ) as no:
        await sink.deliver(call(), dialogue(), attempts.context())
    assert "set check_comments = false in [sinks.support]" in str(no.value)
    await sink.aclose()

    sink = make_sink(okdesk, check_comments=False)
    await sink.deliver(call(), dialogue(), attempts.context())
    await sink.aclose()
    (issue,) = okdesk.issues.values()
    assert len(issue["comments"]) == 2  # the documented cost of check_comments = false


async def test_the_api_token_stays_out_of_every_reason_and_the_progress(
    okdesk: OkdeskStandIn,
) -> None:
    attempts = Attempts()
    sink = make_sink(okdesk, api_token="wrong-" + TOKEN)
    with pytest.raises(SinkError) as refused:
        await sink.deliver(call(), dialogue(), attempts.context())
    await sink.aclose()
    assert "check api_token in [sinks.support]" in str(refused.value)
    reasons = [str(refused.value)]

    sink = make_sink(okdesk)
    location = f"https://acc.okdesk.ru/api/v1/contacts/?api_token={TOKEN}"
    okdesk.fail_next(301, method="GET", headers={"location": location})
    okdesk.fail_next(500, method="GET", body={"errors": f"bad request api_token={TOKEN}"})
    for _ in range(2):
        with pytest.raises(SinkError) as failed:
            await sink.deliver(call(), dialogue(), attempts.context())
        reasons.append(str(failed.value))
    await sink.aclose()
    sink = make_sink(f"http://127.0.0.1:{free_port()}")  # nobody listens
    with pytest.raises(SinkError) as unreachable:
        await sink.deliver(call(), dialogue(), attempts.context())
    await sink.aclose()
    reasons.append(str(unreachable.value))

    assert "redirect to https://acc.okdesk.ru/api/v1/contacts/" in reasons[1]
    assert all(TOKEN not in reason for reason in reasons), reasons
    assert TOKEN not in json.dumps(attempts.saves)


async def test_500s_then_success(okdesk: OkdeskStandIn, sink: OkdeskSink) -> None:
    okdesk.fail_next(502, path="/api/v1/issues/", times=2)
    await retried(sink, call(), dialogue(), Attempts(), failures=2)
    (issue,) = okdesk.issues.values()
    assert len(issue["comments"]) == 1
