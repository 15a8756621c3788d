"""Mango's notifications through the daemon's real HTTP server, its real ``ingest`` and
join (``Runtime``) and a real SQLite store: summary and record/added joined by entry_id
in either order, missed calls at once, the waits running out, and every way a request
can be wrong answered clearly with nothing stored.

The source's clock is a fake one the tests move; the daemon's housekeeping round is
``Runtime.join_waiting_parts``, called by the tests."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from callscribe.config.settings import Settings
from callscribe.connectors.sources.mango import MangoSource
from callscribe.daemon.http import create_app, serve
from callscribe.daemon.runtime import Runtime
from callscribe.domain import Call, CallState, Direction, RecordingRef
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import CallParts
from callscribe.store.sqlite import SqliteStore
from tests.standins.mango import mango_sign, record_added, signed_form, summary

KEY = "vpbx-code-0123456789"
SALT = "salt-9b1f6c0e2a"
FORM = {"content-type": "application/x-www-form-urlencoded"}
MIB = 1 << 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_763_708_500.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Hooks:
    client: httpx.AsyncClient
    runtime: Runtime
    store: SqliteStore
    clock: FakeClock

    async def post(
        self, event: str, payload: dict[str, Any] | str, **headers: str
    ) -> httpx.Response:
        body = signed_form(KEY, SALT, payload)
        return await self.send(event, body, **headers)

    async def send(self, event: str, body: bytes, **headers: str) -> httpx.Response:
        return await self.client.post(
            f"/hooks/mango/{event}", content=body, headers={**FORM, **headers}
        )

    def calls(self) -> list[Call]:
        return self.store.calls(limit=1000)

    def parts(self) -> list[CallParts]:
        return self.store.call_parts()

    def nothing_stored(self) -> bool:
        return not self.calls() and not self.parts() and not self.store.jobs()

    async def housekeeping(self, after: float) -> None:
        self.clock.now += after
        await self.runtime.join_waiting_parts()


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[Hooks]:
    settings = Settings.model_validate(
        {
            "daemon": {"state_dir": str(tmp_path)},
            "sources": {
                "mango": {
                    "type": "mango",
                    "api_key": KEY,
                    "api_salt": SALT,
                    "recording_wait_seconds": 600,
                    "more_recordings_seconds": 30,
                    "summary_wait_seconds": 3600,
                }
            },
            "sinks": {"archive": {"type": "jsonl", "path": str(tmp_path / "archive.jsonl")}},
            "routes": [{"sources": ["mango"], "sinks": ["archive"], "calls": "all"}],
        }
    )
    store = SqliteStore(tmp_path / "callscribe.db")
    async_store = AsyncStore(store)
    runtime = Runtime(settings, async_store, engine=None)  # type: ignore[arg-type]
    clock = FakeClock()
    source = MangoSource("mango", settings.sources["mango"], clock=clock)  # type: ignore[arg-type]
    runtime.sources["mango"] = source  # the pipeline shares this mapping
    app = create_app(
        sources={"mango": source},
        ingest=runtime.ingest,
        readiness=lambda: {"ok": True},
        metrics=runtime.metrics,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, ready=ready, sockets=[sock]))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield Hooks(client, runtime, store, clock)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(runtime.decoder.close)
        await async_store.aclose()


def _accepted(response: httpx.Response, accepted: int = 1, duplicates: int = 0) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": accepted, "duplicates": duplicates}


async def test_summary_then_record_make_one_recorded_call(hooks: Hooks) -> None:
    _accepted(await hooks.post("events/summary", summary("E-1")))
    assert hooks.calls() == []
    _accepted(await hooks.post("events/record/added", record_added("E-1", "REC-1")))
    assert hooks.calls() == []  # other legs' recordings may still come
    (waiting,) = hooks.parts()
    assert set(waiting.parts) == {"summary", "record/REC-1"}

    await hooks.housekeeping(after=29)
    assert hooks.calls() == []
    await hooks.housekeeping(after=2)
    (call,) = hooks.calls()
    event = call.event
    assert (event.source, event.external_id) == ("mango", "E-1")
    assert event.recordings == (RecordingRef("mango:REC-1"),)
    assert event.direction is Direction.INBOUND
    assert (event.client_number, event.operator_id) == ("79991234567", "101")
    assert event.line_number == "74950000000"
    assert event.started_at is not None
    assert event.started_at.isoformat() == "2025-11-21T10:00:00+03:00"
    assert event.talk_seconds == 12
    assert event.raw["summary"] == summary("E-1")
    assert event.raw["recording_ids"] == ["REC-1"]
    assert call.state is CallState.RECEIVED
    assert [job.kind.value for job in hooks.store.jobs()] == ["fetch"]
    assert hooks.parts() == []


async def test_record_then_summary_make_the_same_call(hooks: Hooks) -> None:
    _accepted(await hooks.post("events/record/added", record_added("E-2", "REC-2")))
    await hooks.housekeeping(after=4000)  # no summary yet, but it is on its way
    assert hooks.calls() == []
    _accepted(await hooks.post("events/summary", summary("E-2")))
    assert hooks.calls() == []  # the wait for more recordings counts from the summary
    await hooks.housekeeping(after=31)
    (call,) = hooks.calls()
    assert call.event.recordings == (RecordingRef("mango:REC-2"),)
    assert call.event.client_number == "79991234567"


async def test_a_transferred_call_keeps_every_recording_in_order(hooks: Hooks) -> None:
    _accepted(await hooks.post("events/record/added", record_added("E-3", "LEG-2", 1_763_708_500)))
    _accepted(await hooks.post("events/summary", summary("E-3")))
    _accepted(await hooks.post("events/record/added", record_added("E-3", "LEG-1", 1_763_708_450)))
    await hooks.housekeeping(after=31)
    (call,) = hooks.calls()
    assert call.event.recordings == (RecordingRef("mango:LEG-1"), RecordingRef("mango:LEG-2"))
    assert call.event.raw["recording_ids"] == ["LEG-1", "LEG-2"]


@pytest.mark.parametrize(
    "payload",
    [
        summary("E-4", talked=False),  # the documentation's example 4: entry_result 0
        {**summary("E-4"), "talk_time": 0},  # example 2: ended in the voice menu
    ],
    ids=["entry-result-0", "talk-time-0"],
)
async def test_a_missed_call_is_stored_at_once_without_a_recording(
    hooks: Hooks, payload: dict[str, Any]
) -> None:
    _accepted(await hooks.post("events/summary", payload))
    (call,) = hooks.calls()
    assert call.state is CallState.NO_RECORDING
    assert call.event.recordings == ()
    assert call.event.answered_at is None
    assert [job.kind.value for job in hooks.store.jobs()] == ["deliver"]
    # A recording of it that shows up later is not part of it.
    response = await hooks.post("events/record/added", record_added("E-4", "REC-4"))
    _accepted(response, accepted=0, duplicates=1)
    assert len(hooks.calls()) == 1
    assert hooks.parts() == []


async def test_an_answered_call_whose_recording_never_comes(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    _accepted(await hooks.post("events/summary", summary("E-5")))
    await hooks.housekeeping(after=599)
    assert hooks.calls() == []
    with caplog.at_level(logging.WARNING):
        await hooks.housekeeping(after=2)
    (call,) = hooks.calls()
    assert call.state is CallState.NO_RECORDING
    assert call.event.answered_at is not None  # answered, but nothing to transcribe
    assert "no recording came in 601 s" in caplog.text


async def test_recordings_whose_summary_never_comes_still_make_a_call(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    _accepted(await hooks.post("events/record/added", record_added("E-6", "REC-6")))
    (waiting,) = hooks.parts()
    source = hooks.runtime.sources["mango"]
    assert isinstance(source, MangoSource)
    assert source.join("E-6", waiting.parts, waited=3599) is None
    with caplog.at_level(logging.WARNING):
        event = source.join("E-6", waiting.parts, waited=3601)
    assert event is not None
    assert event.recordings == (RecordingRef("mango:REC-6"),)
    assert event.started_at is None
    assert "no summary after 3601 s" in caplog.text


async def test_replayed_notifications_make_one_call(hooks: Hooks) -> None:
    for _ in range(3):
        _accepted(await hooks.post("events/summary", summary("E-7")))
    records = [hooks.post("events/record/added", record_added("E-7", "REC-7")) for _ in range(10)]
    for response in await asyncio.gather(*records):
        assert response.status_code == 200
    (waiting,) = hooks.parts()
    assert len(waiting.parts) == 2
    await hooks.housekeeping(after=31)
    assert len(hooks.calls()) == 1
    for event, payload in (
        ("summary", summary("E-7")),
        ("record/added", record_added("E-7", "REC-7")),
    ):
        _accepted(await hooks.post(f"events/{event}", payload), accepted=0, duplicates=1)
    assert len(hooks.calls()) == 1
    assert len(hooks.store.jobs()) == 1


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_mangos_connection_check_is_answered_200(hooks: Hooks, method: str) -> None:
    """«Проверить подключение» sends an empty request, to the address or a path under it."""
    for path in ("/hooks/mango", "/hooks/mango/events/summary"):
        response = await hooks.client.request(method, path)
        _accepted(response, accepted=0)
    assert hooks.nothing_stored()


@pytest.mark.parametrize("event", ["events/call", "events/recording", "events/dtmf", "x"])
async def test_other_signed_notifications_are_answered_and_dropped(
    hooks: Hooks, event: str
) -> None:
    payload = {"entry_id": "E-8", "call_id": "C-8", "recording_state": "Completed", "seq": 1}
    _accepted(await hooks.post(event, payload), accepted=0)
    assert hooks.nothing_stored()


def _flip(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


async def test_any_flipped_bit_is_refused_and_stores_nothing(hooks: Hooks) -> None:
    """R-WH-1: one random bit flipped in the body (key, sign, json or the form around
    them) is a 401, or a 400 where it breaks the form itself, and nothing is stored.  The
    signature covers the form's values: a flip that only changes their encoding (%7B and
    %7b) leaves the same notification, which is accepted."""
    body = signed_form(KEY, SALT, summary("E-9"))
    rng = random.Random(9)
    refused = 0
    for _ in range(300):
        flipped = _flip(body, rng)
        response = await hooks.send("events/summary", flipped)
        if _same_form(flipped, body):
            assert response.status_code == 200
            continue
        assert response.status_code in (400, 401), flipped
        refused += 1
    assert refused > 250
    assert hooks.calls() == []
    assert all(set(w.parts) == {"summary"} for w in hooks.parts())
    assert [w.external_id for w in hooks.parts()] in ([], ["E-9"])


def _same_form(body: bytes, original: bytes) -> bool:
    try:
        fields = parse_qsl(body.decode(), strict_parsing=True, errors="strict")
    except ValueError:
        return False
    return fields == parse_qsl(original.decode())


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"json": "{}", "sign": "0" * 64}, 401),  # no vpbx_api_key
        ({"vpbx_api_key": KEY, "json": "{}"}, 401),  # no sign
        ({"vpbx_api_key": KEY, "sign": mango_sign(KEY, "", SALT)}, 401),  # no json
        ({"vpbx_api_key": "another", "sign": mango_sign("another", "{}", SALT), "json": "{}"}, 401),
        ({"vpbx_api_key": KEY, "sign": mango_sign(KEY, "{}", "guessed"), "json": "{}"}, 401),
    ],
    ids=["no-key", "no-sign", "no-json", "other-pbx", "wrong-salt"],
)
async def test_unsigned_or_wrongly_signed_is_401(
    hooks: Hooks, fields: dict[str, str], status: int
) -> None:
    response = await hooks.send("events/summary", urlencode(fields).encode())
    assert response.status_code == status
    assert response.text == "unauthorized\n"
    assert hooks.nothing_stored()


async def test_malformed_requests_are_refused_clearly(hooks: Hooks) -> None:
    payload = json.dumps(summary("E-10"))

    def signed(payload: dict[str, Any] | str) -> bytes:
        return signed_form(KEY, SALT, payload)

    json_type = {"content-type": "application/json"}
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("events/summary", payload.encode(), json_type, 415, "expected application/x-www-form"),
        ("events/summary", signed("{not json"), {}, 400, "not JSON"),
        ("events/summary", signed("[1, 2]"), {}, 400, "JSON object"),
        ("events/summary", signed({"call_direction": 1}), {}, 400, "entry_id: Field required"),
        ("events/summary", signed({**summary("E-10"), "end_time": "noon"}), {}, 400, "end_time"),
        ("events/record/added", signed({"entry_id": "E-10"}), {}, 400, "recording_id"),
        (
            "events/record/added",
            signed({"entry_id": "E\n10", "recording_id": "R"}),
            {},
            400,
            "control characters",
        ),
    ]
    for event, body, headers, status, reason in cases:
        response = await hooks.send(event, body, **headers)
        assert response.status_code == status, (event, body, response.text)
        assert reason in response.text
    assert hooks.nothing_stored()


async def test_a_huge_body_is_413(hooks: Hooks) -> None:
    padding = "x" * (MIB + 1)
    body = signed_form(KEY, SALT, {**summary("E-11"), "padding": padding})
    response = await hooks.send("events/summary", body)
    assert response.status_code == 413
    assert hooks.nothing_stored()


async def test_secrets_stay_out_of_the_log(hooks: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = signed_form(KEY, SALT, summary("E-12"))
    await hooks.send("events/summary", good)
    await hooks.send("events/summary", good.replace(b"sign=", b"sign=0"))
    await hooks.post("events/summary", {"entry_id": "E-13"} | {"to": "not an object"})
    await hooks.housekeeping(after=601)
    sign = mango_sign(KEY, json.dumps(summary("E-12"), ensure_ascii=False), SALT)
    for secret in (KEY, SALT, sign, "79991234567"):
        assert secret not in caplog.text
    assert "webhook mango 401" in caplog.text
