"""The Calltouch source behind the daemon's real HTTP server and runtime, with a stand-in
of Calltouch's API: webhooks as Calltouch sends them, recordings through the download
API with the key on that request only, past days through the calls-diary."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from callscribe.connectors.sources.calltouch import CalltouchSource, CalltouchSourceConfig
from callscribe.domain import CallState, Direction
from callscribe.errors import SourceError
from callscribe.store.base import JobKind, JobState
from tests.hookserver import Hooks, hook_server, post, settings_for
from tests.standins.calltouch import Api, record, send

TOKEN = secrets.token_urlsafe(32)
KEY = "ct-key-" + secrets.token_hex(16)
SITE = "54321"
MP3 = b"ID3" + bytes(3000)
DAY = date(2026, 11, 20)


def records() -> list[dict[str, Any]]:
    return [
        record(7001, "20/11/2026 09:00:00"),
        record(7002, "20/11/2026 09:30:00", successful=False),
        record(7003, "20/11/2026 10:00:00"),
        record(7004, "20/11/2026 11:00:00"),
        record(7005, "20/11/2026 12:00:00", successful=False),
        record(7006, "21/11/2026 08:00:00"),
    ]


def calltouch(api: Api, **extra: Any) -> dict[str, Any]:
    return {
        "type": "calltouch",
        "token": TOKEN,
        "site_id": SITE,
        "client_api_id": KEY,
        "api_url": api.url,
        "allow_http": True,
        "loopback_ports": [api.port],
        "allowed_ips": ["127.0.0.0/8"],
        "api_page_size": 2,
        "api_interval_seconds": 0,
        "api_wait_seconds": 0.05,
        **extra,
    }


@dataclass
class World:
    hooks: Hooks
    api: Api

    def url(self, source: str = "ct", token: str = TOKEN) -> str:
        return self.hooks.hook(source, f"/{token}")

    def key_leaked(self, caplog: pytest.LogCaptureFixture) -> bool:
        mine = [r for r in caplog.records if r.name.startswith(("callscribe", "uvicorn"))]
        return any(KEY in r.getMessage() for r in mine) or self.hooks.holds(KEY)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    audio = {str(r["callId"]): MP3 for r in records() if r["successful"]}
    with Api(SITE, KEY, records(), audio, missing_first=1) as api:
        sources = {
            "ct": calltouch(api),
            "renamed": calltouch(
                api, call_id_param="id", caller_param="callerphone", date_param="calltime"
            ),
            "guarded": calltouch(api, allowed_ips=["92.118.66.0/23"]),
        }
        settings = settings_for(tmp_path, sources, retry={"fetch": [0, 0], "jitter": 0})
        async with hook_server(settings) as hooks:
            yield World(hooks, api)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_webhook_is_a_call_with_every_field_kept(world: World, method: str) -> None:
    answer = await send(world.url(), record(7001, "20/11/2026 09:00:00"), method=method)
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    (call,) = world.hooks.calls()
    event = call.event
    assert (event.external_id, event.direction) == ("7001", Direction.INBOUND)
    assert (event.client_number, event.line_number) == ("79991234567", "74950000000")
    assert event.started_at is not None
    assert event.started_at.isoformat() == "2026-11-20T09:00:00+03:00"
    assert event.talk_seconds == 12  # 17 s, of which 5 waiting
    assert [r.location for r in event.recordings] == ["calltouch:7001"]
    assert event.raw["sessionId"] == "562001"  # for routes: dynamic or static number
    assert event.raw["targetCall"] == "true"


async def test_parameter_names_are_the_admins_choice(world: World) -> None:
    params = {"id": "7003", "callerphone": "+7 999 000-11-22", "calltime": "1795158000"}
    assert (await send(world.url("renamed"), params)).is_success
    (call,) = world.hooks.calls("renamed")
    assert call.event.external_id == "7003"
    assert call.event.client_number == "+7 999 000-11-22"
    assert call.event.started_at is not None
    assert call.event.started_at.year == 2026


async def test_an_unsuccessful_call_is_a_missed_call(world: World) -> None:
    answer = await send(world.url(), record(7002, "20/11/2026 09:30:00", successful=False))
    assert answer.is_success
    (call,) = world.hooks.calls()
    assert call.state is CallState.NO_RECORDING
    assert call.event.recordings == ()
    assert [d.sink for d in world.hooks.store.deliveries(call_id=call.id)] == ["archive"]


async def test_a_wrong_token_or_sender_is_refused_and_stores_nothing(world: World) -> None:
    params = record(7001, "20/11/2026 09:00:00")
    assert (await send(world.url(token="x" * 43), params)).status_code == 401
    assert (await send(world.hooks.hook("ct"), params)).status_code == 401
    assert (await send(world.url(token=TOKEN[:-1]), params)).status_code == 401
    assert (await send(world.url("guarded"), params)).status_code == 403  # 127.0.0.1
    assert world.hooks.calls() == []


async def test_a_json_body_is_415(world: World) -> None:
    answer = await post(world.url(), json={"callId": 7001})
    assert answer.status_code == 415
    assert "URL-encoded" in answer.text
    assert world.hooks.calls() == []


@pytest.mark.parametrize("call_id", [None, "", "../../etc", "7001/download?x=1", "x" * 101])
async def test_a_missing_or_odd_call_id_is_400(world: World, call_id: str | None) -> None:
    params = record(7001, "20/11/2026 09:00:00")
    if call_id is None:
        del params["callId"]
    else:
        params["callId"] = call_id
    answer = await send(world.url(), params, method="POST")
    assert answer.status_code == 400
    assert "callId is missing or not a call id" in answer.text
    assert world.hooks.calls() == []


async def test_a_huge_body_is_413(world: World) -> None:
    params = record(7001, "20/11/2026 09:00:00", keyword="x" * (1 << 20))
    assert (await send(world.url(), params, method="POST")).status_code == 413
    assert world.hooks.calls() == []


async def test_replayed_webhooks_make_one_call(world: World) -> None:
    params = record(7004, "20/11/2026 11:00:00")
    answers = await asyncio.gather(*(send(world.url(), params) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sum(a.json()["accepted"] for a in answers) == 1
    assert len(world.hooks.calls()) == 1
    assert len(world.hooks.store.jobs(kind=JobKind.FETCH)) == 1


async def test_the_recording_comes_from_the_download_api_with_the_key_on_that_request_only(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await send(world.url(), record(7001, "20/11/2026 09:00:00"))).is_success
    for _ in range(2):  # the first answer is 404: not processed yet, retried
        assert await world.hooks.fetch() == 1
    (call,) = world.hooks.calls()
    assert call.state is CallState.FETCHED
    recording = world.hooks.store.recording(call.id)
    assert recording is not None
    assert Path(recording.path).read_bytes() == MP3
    path = f"/calls-service/RestAPI/{SITE}/calls-diary/calls/7001/download"
    downloads = world.api.requests_to(path)
    assert [r.query for r in downloads] == [{"clientApiId": KEY}] * 2
    (failed,) = [j for j in world.hooks.store.jobs(kind=JobKind.FETCH) if j.error]
    assert "recording not ready yet" in (failed.error or "")
    assert not world.key_leaked(caplog)


async def test_a_refused_key_fails_the_fetch_for_good_without_showing_the_key(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.api.key = "another"
    assert (await send(world.url(), record(7003, "20/11/2026 10:00:00"))).is_success
    assert await world.hooks.fetch() == 1
    (job,) = world.hooks.store.jobs(kind=JobKind.FETCH)
    assert job.state is JobState.DEAD
    assert (job.error or "").startswith("the recording server refused it: HTTP 401; retrying")
    assert not world.key_leaked(caplog)


def source(api: Api, **extra: Any) -> CalltouchSource:
    return CalltouchSource("ct", CalltouchSourceConfig.model_validate(calltouch(api, **extra)))


async def test_a_day_is_read_page_by_page_waiting_out_429() -> None:
    with Api(SITE, KEY, records(), {}, throttle_first=2) as api:
        events = [event async for event in source(api).calls_on(DAY)]
    assert [e.external_id for e in events] == ["7001", "7002", "7003", "7004", "7005"]
    assert [bool(e.recordings) for e in events] == [True, False, True, True, False]
    assert events[0].raw["ctCallerId"] == "ct-7001"
    assert [(p["dateFrom"], p["dateTo"], p["page"]) for p in api.pages] == [
        ("20/11/2026", "20/11/2026", "1"),
        ("20/11/2026", "20/11/2026", "2"),
        ("20/11/2026", "20/11/2026", "3"),
    ]
    assert sum(1 for r in api.received if r.path.endswith("/calls")) == 5  # 2 × 429


async def test_a_refused_key_or_lasting_429_say_why_without_the_key() -> None:
    with Api(SITE, "other", records(), {}) as api, pytest.raises(SourceError) as refused:
        _ = [event async for event in source(api).calls_on(DAY)]
    assert "HTTP 401 (check site_id and client_api_id)" in str(refused.value)
    assert KEY not in str(refused.value)
    with (
        Api(SITE, KEY, records(), {}, throttle_first=100) as api,
        pytest.raises(SourceError) as pressed,
    ):
        _ = [event async for event in source(api, api_attempts=2).calls_on(DAY)]
    assert "HTTP 429; gave up after 2 tries" in str(pressed.value)
    assert KEY not in str(pressed.value)


async def test_a_webhook_and_a_backfill_of_the_same_call_are_one_call(world: World) -> None:
    assert (await send(world.url(), record(7001, "20/11/2026 09:00:00"))).is_success
    ct = world.hooks.runtime.sources["ct"]
    assert isinstance(ct, CalltouchSource)
    ingested = [await world.hooks.runtime.ingest(event) async for event in ct.calls_on(DAY)]
    assert [i.created for i in ingested if i is not None] == [False, True, True, True, True]
    assert sorted(c.event.external_id for c in world.hooks.calls()) == [
        "7001", "7002", "7003", "7004", "7005",
    ]  # fmt: skip
