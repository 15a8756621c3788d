"""The daemon's HTTP server for real: uvicorn on 127.0.0.1, httpx (or a raw socket where the
test must control the bytes on the wire), and a real SqliteStore behind ``ingest``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from callscribe.connectors.base import WebhookRequest, WebhookSource
from callscribe.connectors.sources.webhook import GenericWebhookConfig, GenericWebhookSource
from callscribe.daemon.http import BodyTooLargeError, create_app, read_body, serve
from callscribe.daemon.metrics import Metrics
from callscribe.domain import CallEvent, Direction, RecordingRef, Speaker
from callscribe.logmask import LogSanitizer
from callscribe.store import sqlite_jobs
from callscribe.store.base import Ingested
from callscribe.store.sqlite import SqliteStore

TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1 << 20

EVENT = {
    "id": "pbx-1718000000.42",
    "direction": "inbound",
    "started_at": "2026-11-21T10:00:00+03:00",
    "answered_at": "2026-11-21T10:00:07+03:00",
    "ended_at": "2026-11-21T10:04:30+03:00",
    "client_number": "+79991234567",
    "line_number": "+74950000000",
    "operator": {"id": "007", "name": "Иван"},
    "recordings": [{"url": "https://pbx.example/rec/1.wav", "channels": "client,operator"}],
    "fields": {"deal": 42, "tags": ["vip"]},
}


class ExplodingSource:
    """A source with a bug: the server must answer 500 and store nothing."""

    name = "boom"

    async def handle(self, request: WebhookRequest) -> list[CallEvent]:
        raise RuntimeError("parser bug on +79991234567\r\nFAKE ENTRY")


@dataclass
class EchoSource:
    """Records what the server handed over, to check the WebhookRequest it builds."""

    name: str = "echo"
    seen: list[WebhookRequest] = field(default_factory=list)

    async def handle(self, request: WebhookRequest) -> list[CallEvent]:
        self.seen.append(request)
        return []


@dataclass
class Server:
    client: httpx.AsyncClient
    port: int
    store: SqliteStore
    metrics: Metrics
    checks: dict[str, bool]
    echo: EchoSource

    def stored(self) -> int:
        return len(self.store.calls(limit=100_000))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    store = SqliteStore(tmp_path / "callscribe.db")
    metrics = Metrics()
    checks = {"store": True, "workers": True}
    echo = EchoSource()

    async def ingest(event: CallEvent) -> Ingested:
        # What the daemon's ingest does: commit on a thread, then count the call.
        ingested = await asyncio.to_thread(store.ingest, event)
        metrics.received(event.source, duplicate=not ingested.created)
        return ingested

    def generic(name: str, **extra: Any) -> GenericWebhookSource:
        config = GenericWebhookConfig.model_validate({"type": "generic", "token": TOKEN, **extra})
        return GenericWebhookSource(name, config)

    sources: dict[str, WebhookSource] = {
        "generic": generic("generic"),
        "office": generic("office", allowed_ips=["10.0.0.0/8", "2001:db8::/32"]),
        "boom": ExplodingSource(),
        "echo": echo,
    }
    app = create_app(
        sources=sources, ingest=ingest, readiness=lambda: dict(checks), metrics=metrics
    )
    try:
        async with serving(app) as (client, port):
            yield Server(client, port, store, metrics, checks, echo)
    finally:
        store.close()


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """``app`` under the daemon's server on a free port of 127.0.0.1, and a client for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, ready=ready, sockets=[sock]))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client, port
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sock.fileno() == -1  # uvicorn closed the listening socket


async def test_valid_post_is_stored_with_every_field(server: Server) -> None:
    response = await server.client.post("/hooks/generic", json=EVENT, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0}
    (call,) = server.store.calls()
    event = call.event
    assert event.source == "generic"
    assert event.external_id == "pbx-1718000000.42"
    assert event.direction is Direction.INBOUND
    assert event.started_at is not None
    assert event.answered_at
    assert event.ended_at
    assert event.started_at.isoformat() == "2026-11-21T10:00:00+03:00"
    assert event.started_at.utcoffset() == timedelta(hours=3)
    assert event.talk_seconds == 263
    assert (event.client_number, event.line_number) == ("+79991234567", "+74950000000")
    assert (event.operator_id, event.operator_name) == ("007", "Иван")
    channels = (Speaker.CLIENT, Speaker.OPERATOR)
    assert event.recordings == (RecordingRef("https://pbx.example/rec/1.wav", channels),)
    assert event.raw == EVENT


async def test_recording_url_and_a_token_header(server: Server) -> None:
    body = {"id": 17, "recording_url": "https://pbx.example/rec/17.mp3"}
    headers = {"X-Callscribe-Token": TOKEN}
    response = await server.client.post("/hooks/generic", json=body, headers=headers)
    assert response.status_code == 200
    (call,) = server.store.calls()
    assert call.event.external_id == "17"
    assert call.event.recordings == (RecordingRef("https://pbx.example/rec/17.mp3"),)


async def test_the_same_post_ten_times_at_once_is_stored_once(server: Server) -> None:
    body = json.dumps(EVENT).encode()
    posts = [server.client.post("/hooks/generic", content=body, headers=AUTH) for _ in range(10)]
    responses = await asyncio.gather(*posts)
    assert [r.status_code for r in responses] == [200] * 10
    assert sum(r.json()["accepted"] for r in responses) == 1
    assert sum(r.json()["duplicates"] for r in responses) == 9
    assert server.stored() == 1
    assert len(server.store.jobs()) == 1  # one FETCH job, not ten


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"X-Callscribe-Token": TOKEN[:-1]},
        {"X-Callscribe-Token": TOKEN.upper()},
    ],
    ids=["none", "empty", "longer", "basic", "no-scheme", "shorter", "case"],
)
async def test_missing_or_wrong_token_is_401_and_stores_nothing(
    server: Server, headers: dict[str, str]
) -> None:
    response = await server.client.post("/hooks/generic", json=EVENT, headers=headers)
    assert response.status_code == 401
    assert response.text == "unauthorized\n"
    assert server.stored() == 0


def _flip_one_bit(token: bytes, rng: random.Random) -> bytes:
    """One random bit flipped, redrawn while the result cannot travel in a header (a
    control character would be refused by the HTTP client before the server sees it)."""
    while True:
        data = bytearray(token)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        if all(0x21 <= b <= 0x7E or b >= 0x80 for b in data):
            return bytes(data)


async def test_a_thousand_tokens_with_one_bit_flipped_are_all_refused(server: Server) -> None:
    rng = random.Random(1)
    limit = asyncio.Semaphore(32)
    body = json.dumps(EVENT).encode()

    async def attempt(i: int) -> int:
        token = _flip_one_bit(TOKEN.encode(), rng)
        name = b"Authorization" if i % 2 else b"X-Callscribe-Token"
        value = b"Bearer " + token if i % 2 else token
        async with limit:
            response = await server.client.post(
                "/hooks/generic", content=body, headers={name: value}
            )
        return response.status_code

    statuses = await asyncio.gather(*(attempt(i) for i in range(1000)))
    assert statuses == [401] * 1000
    assert server.stored() == 0
    assert (await server.client.post("/hooks/generic", content=body, headers=AUTH)).is_success


async def test_an_address_outside_allowed_ips_is_403(server: Server) -> None:
    response = await server.client.post("/hooks/office", json=EVENT, headers=AUTH)
    assert response.status_code == 403
    assert response.text == "forbidden\n"
    assert server.stored() == 0


async def test_a_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # Two mebibytes declared, none sent: the answer must not wait for them.
        writer.write(
            b"POST /hooks/generic HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in head.lower()
        assert await asyncio.wait_for(reader.read(), 5) == b"body too large\n"  # then closed
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert server.stored() == 0


async def test_a_body_over_the_limit_with_content_length_is_413(server: Server) -> None:
    body = b'{"id": "big", "fields": {"pad": "' + b"a" * MIB + b'"}}'
    response = await server.client.post("/hooks/generic", content=body, headers=AUTH)
    assert response.status_code == 413
    assert server.stored() == 0


async def test_a_body_of_exactly_the_limit_is_accepted(server: Server) -> None:
    head, tail = b'{"id": "edge", "fields": {"pad": "', b'"}}'
    body = head + b"a" * (MIB - len(head) - len(tail)) + tail
    assert len(body) == MIB
    response = await server.client.post("/hooks/generic", content=body, headers=AUTH)
    assert response.status_code == 200


async def test_a_chunked_body_over_the_limit_is_413_before_it_is_all_sent(server: Server) -> None:
    """No Content-Length: the server must count while reading and answer as soon as the
    limit is passed, long before the client is done (64 MiB here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    total, sent, chunk = 64 * MIB, 0, b"a" * 65536
    try:
        writer.write(
            b"POST /hooks/generic HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
        with contextlib.suppress(ConnectionError):
            while not answer.done() and sent < total:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0)  # the server runs in this loop too
        head = await asyncio.wait_for(answer, 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert sent < 8 * MIB, f"{sent} bytes went out before the answer"
    assert server.stored() == 0


async def test_read_body_holds_at_most_the_limit_plus_one_chunk() -> None:
    pulled = 0

    async def endless() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"a" * 1000, "more_body": True}

    with pytest.raises(BodyTooLargeError):
        await read_body(endless, 10_000)
    assert pulled == 11  # 11,000 bytes: the first chunk past the limit stops the reading


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<xml>not json</xml>", "body is not JSON"),
        (b"", "empty body"),
        (b"[1, 2]", "body must be a JSON object"),
        (json.dumps({**EVENT, "client_numbr": "1"}).encode(), "unknown keys 'client_numbr'"),
        (json.dumps({**EVENT, "started_at": "2026-11-21T10:00:00"}).encode(), "started_at: add"),
        (json.dumps({**EVENT, "direction": "sideways"}).encode(), "direction: Input should be"),
        (json.dumps({**EVENT, "recording_url": "https://x/1.wav"}).encode(), "one or the other"),
        (json.dumps({"direction": "inbound"}).encode(), "id: Field required"),
    ],
    ids=["xml", "empty", "array", "typo", "naive", "direction", "both-recordings", "no-id"],
)
async def test_malformed_bodies_are_400_with_the_reason(
    server: Server, body: bytes, reason: str
) -> None:
    response = await server.client.post("/hooks/generic", content=body, headers=AUTH)
    assert response.status_code == 400
    assert reason in response.text
    assert response.text.count("\n") == 1  # one line
    assert server.stored() == 0


async def test_an_unknown_source_is_404(server: Server) -> None:
    response = await server.client.post("/hooks/nope", json=EVENT, headers=AUTH)
    assert response.status_code == 404


async def test_the_request_reaches_the_source_whole(server: Server) -> None:
    response = await server.client.get(
        "/hooks/echo/events/summary", params={"from": "79991234567"}, headers={"X-A": "b"}
    )
    assert response.json() == {"accepted": 0, "duplicates": 0}
    assert (await server.client.post("/hooks/echo", content=b"raw")).status_code == 200
    first, second = server.echo.seen
    assert (first.method, first.path, first.query["from"]) == (
        "GET",
        "/events/summary",
        "79991234567",
    )
    assert first.headers["x-a"] == "b"
    assert first.client_ip == "127.0.0.1"
    assert (second.method, second.path, second.body) == ("POST", "", b"raw")
    assert (await server.client.head("/hooks/echo")).status_code == 405
    assert (await server.client.put("/hooks/echo")).status_code == 405


async def test_a_store_failure_is_503_with_retry_after_and_nothing_half_stored(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    # The call row is written, then queueing its FETCH job fails: the transaction must
    # roll back as a whole and the PBX be told to retry.
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_jobs, "enqueue", disk_full)
        response = await server.client.post("/hooks/generic", json=EVENT, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert server.stored() == 0
    assert server.store.jobs() == []
    retried = await server.client.post("/hooks/generic", json=EVENT, headers=AUTH)
    assert retried.json() == {"accepted": 1, "duplicates": 0}
    assert server.stored() == 1
    assert len(server.store.jobs()) == 1


async def test_a_crashing_source_is_500_and_stores_nothing(server: Server) -> None:
    response = await server.client.post("/hooks/boom", json=EVENT)
    assert response.status_code == 500
    assert response.text == "internal error\n"
    assert server.stored() == 0


async def test_health_readiness_and_metrics(server: Server) -> None:
    health = await server.client.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = await server.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"store": True, "workers": True})
    server.checks["workers"] = False
    not_ready = await server.client.get("/readyz")
    assert (not_ready.status_code, not_ready.json()) == (503, {"store": True, "workers": False})

    await server.client.post("/hooks/generic", json=EVENT, headers=AUTH)
    await server.client.post("/hooks/generic", json=EVENT, headers=AUTH)
    await server.client.post("/hooks/generic", json=EVENT)
    await server.client.post("/hooks/no-such-source", json=EVENT)
    metrics = await server.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    text = metrics.text
    assert 'callscribe_webhooks_total{source="generic",status="200"} 2.0' in text
    assert 'callscribe_webhooks_total{source="generic",status="401"} 1.0' in text
    assert 'callscribe_webhooks_total{source="(unknown)",status="404"} 1.0' in text
    assert 'callscribe_calls_received_total{source="generic"} 1.0' in text
    for name in ("transcription_seconds_total", "audio_seconds_total", "queue_lag_seconds"):
        assert f"callscribe_{name} " in text


async def test_logs_hold_no_token_no_phone_number_and_no_forged_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    forged = {**EVENT, "operator": {"name": "Иван\r\nFAKE ENTRY"}}
    await server.client.post("/hooks/generic", json=forged, headers=AUTH)
    await server.client.post("/hooks/generic?from=%2B79991234567", json=EVENT, headers=AUTH)
    await server.client.post(
        "/hooks/generic", json={"id": "x", "+79991234567\r\nFAKE": 1}, headers=AUTH
    )
    await server.client.post(
        "/hooks/generic",
        json={"id": "x", "operator": {"x\r\nFAKE 8 999 123-45-67": 1}},
        headers=AUTH,
    )
    await server.client.post(
        "/hooks/generic", json=EVENT, headers={"X-Callscribe-Token": TOKEN + "!"}
    )
    await server.client.post("/hooks/%0D%0AFAKE%20ENTRY", json=EVENT)
    await server.client.post("/hooks/boom", json=EVENT)

    # The server's records (httpx, the test's client, logs its own URLs).
    records = [r for r in caplog.records if r.name.startswith(("callscribe", "uvicorn"))]
    messages = [record.getMessage() for record in records]
    assert any("webhook generic 400" in m and "FAKE" in m for m in messages)
    for message in messages:  # what this module writes, before any filter
        assert "\r" not in message, message
        assert "\n" not in message, message
        assert TOKEN not in message
        assert TOKEN[:12] not in message
        assert "9991234567" not in message, message
        assert "999 123-45" not in message, message

    # And with the daemon's filter on the handler, the whole output, tracebacks included.
    handler = logging.Handler()
    handler.addFilter(LogSanitizer())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for record in records:
        assert handler.filter(record)
        text = handler.format(record)
        assert not any(line.startswith("FAKE") for line in text.splitlines()), text
        assert "9991234567" not in text
        assert TOKEN not in text


async def test_serve_returns_when_told_to_stop() -> None:
    app = create_app(sources={}, ingest=_never, readiness=dict, metrics=Metrics())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, ready=ready, stop=stop, sockets=[sock]))
    await asyncio.wait_for(ready.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert sock.fileno() == -1


async def test_serve_reports_an_address_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_app(sources={}, ingest=_never, readiness=dict, metrics=Metrics())
        with pytest.raises(OSError, match="cannot listen"):
            await asyncio.wait_for(serve(app, "127.0.0.1", port), 10)


async def _never(event: CallEvent) -> Ingested:
    raise AssertionError("no source, no event")


async def test_loose_but_unambiguous_values_are_accepted(server: Server) -> None:
    body = {
        "id": 1718000000.42,
        "direction": None,
        "client_number": 79991234567,
        "operator": {"id": "", "name": "Иван\r\nFAKE ENTRY"},
        "recording_url": "",
    }
    response = await server.client.post("/hooks/generic", json=body, headers=AUTH)
    assert response.json() == {"accepted": 1, "duplicates": 0}
    (call,) = server.store.calls()
    event = call.event
    assert (event.external_id, event.direction) == ("1718000000.42", Direction.UNKNOWN)
    assert (event.client_number, event.operator_id) == ("79991234567", None)
    assert event.operator_name == "Иван\r\nFAKE ENTRY"  # kept as sent; logs escape it
    assert event.recordings == ()


def test_a_short_token_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="at least 16 characters") as caught:
        GenericWebhookConfig.model_validate({"type": "generic", "token": "hunter2-secret"})
    assert "hunter2" not in str(caught.value)
