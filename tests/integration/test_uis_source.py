"""The UIS source behind the daemon's real HTTP server and runtime: notifications made
from callscribe's own templates and filled the way UIS fills them, joined into calls in
a real SQLite store; everything refused is refused before anything is stored."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callscribe.domain import CallState, Direction
from callscribe.store.base import JobKind
from tests.hookserver import Hooks, get, hook_server, post, settings_for
from tests.standins.uis import Media, call_end_values, fill, notify, template

TOKEN = secrets.token_urlsafe(32)
AUDIO = b"RIFF" + bytes(2000)
TALK = "/system/media/talk/2001/abc123/"


@dataclass
class World:
    hooks: Hooks
    media: Media
    trap: Media  # a loopback server no link may reach

    def url(self, source: str = "uis", path: str = "") -> str:
        return self.hooks.hook(source, path)

    def talk_values(self, session: int, **extra: Any) -> dict[str, Any]:
        return {
            "call_session_id": session,
            "direction": "in",
            "start_time": "2026-11-20 10:00:00",
            "contact_phone_number": "79991234567",
            "employee_id": 4242,
            "file_link": self.media.link(TALK),
            "file_duration": 12,
            **extra,
        }


def uis(media: Media, **extra: Any) -> dict[str, Any]:
    return {
        "type": "uis",
        "token": TOKEN,
        "recording_hosts": ["127.0.0.1"],
        "allow_http": True,
        "loopback_ports": [media.port],
        "recording_wait_seconds": 3600,
        **extra,
    }


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    with Media({TALK: AUDIO}) as media, Media({TALK: AUDIO}) as trap:
        sources = {
            "uis": uis(media),
            "quick": uis(media, recording_wait_seconds=0.3),
            "open": uis(media, recording_hosts=[]),  # any public host: addresses still checked
            "office": uis(media, allowed_ips=["203.0.113.0/24"]),
        }
        async with hook_server(settings_for(tmp_path, sources)) as hooks:
            yield World(hooks, media, trap)


async def housekeeping_until(world: World, check: Any, what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await world.hooks.runtime.join_waiting_parts()
        await asyncio.sleep(0.05)


async def test_call_end_then_recorded_talk_make_one_call(world: World) -> None:
    answer = await notify(world.url(), "call_end", TOKEN, call_end_values(2001))
    assert answer.status_code == 200
    assert world.hooks.calls() == []  # waiting for its recording
    await world.hooks.runtime.join_waiting_parts()
    assert world.hooks.calls() == []
    assert (await notify(world.url(), "recorded_talk", TOKEN, world.talk_values(2001))).is_success
    (call,) = world.hooks.calls()
    event = call.event
    assert (event.source, event.external_id, event.direction) == ("uis", "2001", Direction.INBOUND)
    assert [r.location for r in event.recordings] == [world.media.link(TALK)]
    assert (event.client_number, event.line_number) == ("79991234567", "74950000000")
    assert (event.operator_id, event.operator_name) == ("4242", "Иван Петров")
    assert event.started_at is not None
    assert event.started_at.utcoffset().total_seconds() == 10800
    assert event.talk_seconds == 12
    assert event.raw["tag_names"] == ["VIP"]
    assert "callscribe_token" not in event.raw
    assert "callscribe_event" not in event.raw
    assert world.hooks.waiting() == []
    assert call.state is CallState.RECEIVED


async def test_recorded_talk_first_then_call_end(world: World) -> None:
    assert (await notify(world.url(), "recorded_talk", TOKEN, world.talk_values(2002))).is_success
    assert world.hooks.calls() == []
    assert (await notify(world.url(), "call_end", TOKEN, call_end_values(2002))).is_success
    (call,) = world.hooks.calls()
    assert call.event.recordings[0].location == world.media.link(TALK)
    assert call.event.ended_at is not None  # the call end's fields are in


async def test_a_call_end_with_its_recording_links_needs_nothing_more(world: World) -> None:
    values = call_end_values(2003, record_file_links=[world.media.link(TALK)])
    assert (await notify(world.url(), "call_end", TOKEN, values)).is_success
    (call,) = world.hooks.calls()
    assert [r.location for r in call.event.recordings] == [world.media.link(TALK)]


async def test_a_lost_call_is_a_missed_call_at_once(world: World) -> None:
    values = {
        "call_session_id": 2004,
        "start_time": "2026-11-20 11:00:00",
        "direction": "in",
        "contact_phone_number": "79990001122",
        "wait_time_duration": 35,
        "noanswered_employee_full_names": ["Иван Петров", "Анна Смирнова"],
        "file_link": None,
    }
    assert (await notify(world.url(), "lost_call", TOKEN, values)).is_success
    (call,) = world.hooks.calls()
    assert call.state is CallState.NO_RECORDING
    assert call.event.recordings == ()
    assert call.event.answered_at is None
    deliveries = world.hooks.store.deliveries(call_id=call.id)
    assert [d.sink for d in deliveries] == ["archive"]
    # A call end marked lost says the same: one call.
    ended = call_end_values(2004, is_lost=True, talk_time_duration=0, employee_id=None)
    answer = await notify(world.url(), "call_end", TOKEN, ended)
    assert answer.json() == {"accepted": 0, "duplicates": 1}
    assert len(world.hooks.calls()) == 1


async def test_an_answered_call_without_recording_goes_on_without_after_the_wait(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert (await notify(world.url("quick"), "call_end", TOKEN, call_end_values(2005))).is_success
    await housekeeping_until(world, lambda: world.hooks.calls("quick"), "the call")
    (call,) = world.hooks.calls("quick")
    assert call.state is CallState.NO_RECORDING
    assert call.event.talk_seconds == 12  # answered, not missed: routes can tell
    assert "call 2005: no recording came within" in caplog.text


async def test_a_call_that_was_not_talked_does_not_wait(world: World) -> None:
    values = call_end_values(2006, talk_time_duration=0, direction="out")
    assert (await notify(world.url(), "call_end", TOKEN, values)).is_success
    (call,) = world.hooks.calls()
    assert call.event.direction is Direction.OUTBOUND
    assert call.state is CallState.NO_RECORDING


async def test_a_recording_whose_call_end_never_comes_goes_on_after_the_wait(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    answer = await notify(world.url("quick"), "recorded_talk", TOKEN, world.talk_values(2007))
    assert answer.is_success
    await housekeeping_until(world, lambda: world.hooks.calls("quick"), "the call")
    (call,) = world.hooks.calls("quick")
    assert call.event.recordings[0].location == world.media.link(TALK)
    assert call.event.operator_id == "4242"
    assert "«Завершение звонка» notification did not come" in caplog.text


async def test_empty_values_and_quoted_placeholders_are_read(world: World) -> None:
    values = call_end_values(
        2008, employee_id="", employee_full_name=None, tag_names=None, finish_reason=""
    )
    body = fill(template("call_end").body(TOKEN), values, quoted=True)
    assert b'"employee_full_name":""' in body  # an empty value inside the admin's quotes
    assert b'"contact_full_name":""' in body
    assert (await post(world.url(), content=body)).is_success
    unquoted = fill(template("recorded_talk").body(TOKEN), world.talk_values(2008, tag_ids=None))
    assert b'"tag_ids":,' in unquoted  # what UIS leaves for an empty unquoted placeholder
    assert (await post(world.url(), content=unquoted)).is_success
    (call,) = world.hooks.calls()
    assert call.event.operator_id == "4242"  # from the recorded talk: the call end's is empty
    assert call.event.raw["direction"] == "in"


async def test_a_get_notification_with_a_query_string(world: World) -> None:
    query = {
        "callscribe_event": "lost_call",
        "call_session_id": "2009",
        "start_time": "2026-11-20 12:00:00",
        "contact_phone_number": "79991234567",
    }
    answer = await get(world.url("uis", f"/{TOKEN}"), params=query)
    assert answer.is_success
    (call,) = world.hooks.calls()
    assert call.event.external_id == "2009"
    assert call.state is CallState.NO_RECORDING


async def test_a_token_in_the_path_is_checked_before_the_body_is_read(world: World) -> None:
    garbage = {"content": b"\xff not json"}
    assert (await post(world.url("uis", f"/{TOKEN}"), **garbage)).status_code == 400
    assert (await post(world.url(), **garbage)).status_code == 401
    assert (await post(world.url("uis", "/" + "x" * 43), **garbage)).status_code == 401
    body = fill(template("lost_call").body(TOKEN), {"call_session_id": 2010})
    assert (await post(world.url("uis", "/" + "x" * 43), content=body)).status_code == 401
    wrong_in_body = body.replace(TOKEN.encode(), b"y" * 43)
    assert (await post(world.url("uis", f"/{TOKEN}"), content=wrong_in_body)).status_code == 401
    assert world.hooks.calls() == []
    assert (await post(world.url("uis", f"/{TOKEN}"), content=body)).is_success


async def test_a_wrong_or_missing_token_is_401_and_stores_nothing(world: World) -> None:
    body = fill(template("call_end").body(TOKEN), call_end_values(2011))
    without = body.replace(f'"callscribe_token":"{TOKEN}",\n'.encode(), b"")
    assert (await post(world.url(), content=without)).status_code == 401
    for position in range(0, len(TOKEN), 3):
        other = "A" if TOKEN[position] != "A" else "B"
        flipped = TOKEN[:position] + other + TOKEN[position + 1 :]
        forged = body.replace(TOKEN.encode(), flipped.encode())
        answer = await post(world.url(), content=forged)
        assert (answer.status_code, answer.text) == (401, "unauthorized\n")
    assert world.hooks.calls() == []
    assert world.hooks.waiting() == []


async def test_a_sender_outside_allowed_ips_is_403(world: World) -> None:
    answer = await notify(world.url("office"), "lost_call", TOKEN, {"call_session_id": 2012})
    assert answer.status_code == 403
    assert world.hooks.calls() == []


async def test_a_wrong_content_type_is_415(world: World) -> None:
    body = fill(template("lost_call").body(TOKEN), {"call_session_id": 2013})
    files = {"file": ("body.json", body, "application/json")}
    answer = await post(world.url("uis", f"/{TOKEN}"), files=files)
    assert answer.status_code == 415
    assert "multipart/form-data" in answer.text
    assert world.hooks.calls() == []


@pytest.mark.parametrize(
    ("values", "event", "reason"),
    [
        ({"direction": "in"}, "call_end", "call_session_id is missing"),
        ({"call_session_id": ["x"]}, "call_end", "call_session_id is missing"),
        ({"call_session_id": 2014}, "recorded_talk", "without file_link"),
    ],
)
async def test_missing_fields_are_400_with_the_reason(
    world: World, values: dict[str, Any], event: str, reason: str
) -> None:
    answer = await notify(world.url(), event, TOKEN, values)
    assert (answer.status_code, reason in answer.text) == (400, True), answer.text
    assert world.hooks.calls() == []
    assert world.hooks.waiting() == []


async def test_a_body_without_the_event_says_which_templates_to_use(world: World) -> None:
    answer = await post(world.url(), json={"callscribe_token": TOKEN, "call_session_id": 1})
    assert answer.status_code == 400
    assert "callscribe_event is missing" in answer.text
    assert "uis-template" in answer.text


async def test_a_huge_body_is_413(world: World) -> None:
    values = call_end_values(2015, tag_names=["x" * 1000] * 1200)
    answer = await notify(world.url(), "call_end", TOKEN, values)
    assert answer.status_code == 413
    assert world.hooks.calls() == []
    assert world.hooks.waiting() == []


async def test_replayed_notifications_make_one_call(world: World) -> None:
    answers = await asyncio.gather(
        *(notify(world.url(), "call_end", TOKEN, call_end_values(2016)) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [200] * 10
    assert len(world.hooks.waiting()) == 1
    for _ in range(3):
        talk = await notify(world.url(), "recorded_talk", TOKEN, world.talk_values(2016))
        assert talk.status_code == 200
    end = await notify(world.url(), "call_end", TOKEN, call_end_values(2016))
    assert end.json() == {"accepted": 0, "duplicates": 1}
    assert len(world.hooks.calls()) == 1
    assert len(world.hooks.store.jobs(kind=JobKind.FETCH)) == 1
    assert world.hooks.waiting() == []


@pytest.mark.parametrize(
    ("source", "link"),
    [
        ("uis", "http://127.0.0.1:{trap}/system/media/talk/1/2/"),  # loopback, port not allowed
        ("uis", "http://10.0.0.5/system/media/talk/1/2/"),  # not a recording host
        ("uis", "http://files.example.com/1.mp3"),  # not a recording host
        ("open", "http://127.0.0.1:{trap}/x"),
        ("open", "http://[::ffff:127.0.0.1]:{trap}/x"),
        ("open", "http://2130706433:{trap}/x"),
        ("open", "http://0x7f.1:{trap}/x"),
        ("open", "http://169.254.169.254/latest/meta-data/"),
        ("open", "http://[64:ff9b::a9fe:a9fe]/x"),
        ("open", "http://192.168.1.10/rec.mp3"),
        ("open", "file:///etc/passwd"),
        ("open", "gopher://127.0.0.1:{trap}/x"),
    ],
)
async def test_recording_links_to_loopback_or_private_addresses_are_refused(
    world: World, source: str, link: str
) -> None:
    link = link.format(trap=world.trap.port)
    values = world.talk_values(2017, file_link=link)
    answer = await notify(world.url(source), "recorded_talk", TOKEN, values)
    assert answer.status_code == 400
    assert "recording link refused" in answer.text
    ended = call_end_values(2017, record_file_links=[link])
    assert (await notify(world.url(source), "call_end", TOKEN, ended)).status_code == 400
    assert world.hooks.calls() == []
    assert world.hooks.waiting() == []
    assert world.trap.received == []


async def test_the_joined_call_is_fetched_from_the_recording_host(world: World) -> None:
    assert (await notify(world.url(), "recorded_talk", TOKEN, world.talk_values(2018))).is_success
    assert (await notify(world.url(), "call_end", TOKEN, call_end_values(2018))).is_success
    assert await world.hooks.fetch() == 1
    (call,) = world.hooks.calls()
    assert call.state is CallState.FETCHED
    recording = world.hooks.store.recording(call.id)
    assert recording is not None
    assert Path(recording.path).read_bytes() == AUDIO
    assert [r.path for r in world.media.received] == [TALK]


async def test_the_token_is_not_logged_or_stored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await notify(world.url(), "call_end", TOKEN, call_end_values(2019))
    await notify(world.url(), "recorded_talk", TOKEN, world.talk_values(2019))
    await post(world.url("uis", f"/{TOKEN}x"), content=b"{}")
    await get(world.url("uis", f"/{TOKEN}"), params={"callscribe_event": "lost_call"})
    # The server's records (httpx, the test's client, logs its own URLs).
    records = [r for r in caplog.records if r.name.startswith(("callscribe", "uvicorn"))]
    assert any("webhook uis 401" in r.getMessage() for r in records)
    assert not [r for r in records if TOKEN[:16] in r.getMessage()]
    assert not world.hooks.holds(TOKEN)
