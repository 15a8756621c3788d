"""Recording links for real: the daemon's app under uvicorn on 127.0.0.1, httpx as the
platform's player, a real SQLite store and real recording files, retention included."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf

from callscribe.config.daemon import DaemonSettings, RetentionSettings
from callscribe.config.settings import Settings
from callscribe.daemon.http import create_app
from callscribe.daemon.links import RecordingLinks
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.recording_server import RecordingEndpoint, kept_file
from callscribe.daemon.retention import purge
from callscribe.domain import CallEvent
from callscribe.store.async_store import AsyncStore
from callscribe.store.sqlite import SqliteStore
from tests.integration.store_values import FakeClock
from tests.integration.test_http import serving
from tests.integration.test_retention import add_call

KEY = b"integration-test-link-key-0123456789abcdef"
PUBLIC = "https://calls.example.com"
NOT_FOUND = "not found\n"


def audio(fmt: str, subtype: str) -> bytes:
    samples = (np.sin(np.arange(16000) / 5) * 3000).astype("int16")
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([samples, samples], axis=1), 8000, format=fmt, subtype=subtype)
    return buffer.getvalue()


WAV = audio("WAV", "PCM_16")


@dataclass
class World:
    client: httpx.AsyncClient
    store: SqliteStore
    astore: AsyncStore
    clock: FakeClock
    links: RecordingLinks
    now: list[float]
    state: Path

    def add(self, stage: str = "done", *, data: bytes = WAV, suffix: str = ".wav") -> int:
        n = len(self.store.calls(limit=1000)) + 1
        return add_call(self.store, self.state / "recordings", n, stage, audio=data, suffix=suffix)

    def link(self, call_id: int, suffix: str = ".wav") -> str:
        """The link's path and query, as the platform's player would request it."""
        split = urlsplit(self.links.url(call_id, suffix))
        return f"{split.path}?{split.query}"

    def settings(self) -> Settings:
        return Settings(
            daemon=DaemonSettings(state_dir=self.state, public_url=PUBLIC),
            retention=RetentionSettings(transcript_days=None, linked_recording_days=7),
        )


async def _no_webhooks(event: CallEvent) -> None:
    raise AssertionError("no webhook expected")


@pytest.fixture
async def world(
    store: SqliteStore, astore: AsyncStore, clock: FakeClock, state: Path
) -> AsyncIterator[World]:
    now = [clock.now.timestamp()]
    links = RecordingLinks(KEY, PUBLIC, 7 * 86400, lambda: now[0])

    async def locate(call_id: int) -> Path | None:
        return kept_file(await astore.recording(call_id), state / "recordings")

    app = create_app(
        sources={},
        ingest=_no_webhooks,
        readiness=dict,
        metrics=Metrics(),
        recordings=RecordingEndpoint(links, locate),
    )
    async with serving(app) as (client, _):
        yield World(client, store, astore, clock, links, now, state)


async def test_a_valid_link_plays_the_whole_recording(world: World) -> None:
    call_id = world.add()
    response = await world.client.get(world.link(call_id))
    assert response.status_code == 200
    assert response.content == WAV
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-length"] == str(len(WAV))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"].startswith("private")
    assert response.headers["content-disposition"] == f'inline; filename="call-{call_id}.wav"'


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix", "media_type"),
    [
        ("MP3", "MPEG_LAYER_III", ".mp3", "audio/mpeg"),
        ("OGG", "VORBIS", ".ogg", "audio/ogg"),
        ("FLAC", "PCM_16", ".flac", "audio/flac"),
    ],
)
async def test_the_content_type_is_what_the_file_is(
    world: World, fmt: str, subtype: str, suffix: str, media_type: str
) -> None:
    data = audio(fmt, subtype)
    call_id = world.add(data=data, suffix=suffix)
    response = await world.client.get(world.link(call_id, suffix))
    assert (response.status_code, response.headers["content-type"]) == (200, media_type)
    assert response.content == data


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first bytes: a player reads the header
        ("bytes=-100", len(WAV) - 100, len(WAV) - 1),  # the end
        ("bytes=1000-", 1000, len(WAV) - 1),  # seeking: from here on
        ("bytes=16000-99999999", 16000, len(WAV) - 1),
    ],
)
async def test_range_requests_get_206_with_just_those_bytes(
    world: World, header: str, first: int, last: int
) -> None:
    call_id = world.add()
    response = await world.client.get(world.link(call_id), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(WAV)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["content-type"] == "audio/wav"
    assert response.content == WAV[first : last + 1]


@pytest.mark.parametrize(
    "header", [f"bytes={len(WAV)}-", "bytes=500-100", "bytes=-0", "bytes=abc", "bytes=1-2-3"]
)
async def test_a_range_no_byte_answers_is_416(world: World, header: str) -> None:
    call_id = world.add()
    response = await world.client.get(world.link(call_id), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(WAV)}"


async def test_a_player_reading_in_pieces_gets_the_file(world: World) -> None:
    call_id = world.add()
    pieces = []
    for first in range(0, len(WAV), 4096):
        response = await world.client.get(
            world.link(call_id), headers={"Range": f"bytes={first}-{first + 4095}"}
        )
        assert response.status_code == 206
        pieces.append(response.content)
    assert b"".join(pieces) == WAV


async def test_head_says_what_get_would_send(world: World) -> None:
    call_id = world.add()
    response = await world.client.head(world.link(call_id))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(WAV))
    assert response.headers["content-type"] == "audio/wav"
    assert response.content == b""
    ranged = await world.client.head(world.link(call_id), headers={"Range": "bytes=-10"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes {len(WAV) - 10}-{len(WAV) - 1}/{len(WAV)}"


def _query(link: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


async def test_refused_links_all_look_the_same(world: World) -> None:
    one, two = world.add(), world.add()
    good = world.link(one)
    query = _query(good)
    signature = query["sig"]
    tampered = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    world.now[0] -= 8 * 86400  # a link made longer ago than its lifetime
    expired = world.link(one)
    world.now[0] += 8 * 86400
    refused = {
        "expired": expired,
        "tampered signature": good.replace(signature, tampered),
        "another call, this call's signature": good.replace(f"/{one}/", f"/{two}/").replace(
            f"call-{one}.wav", f"call-{two}.wav"
        ),
        "no signature": good.split("?")[0],
        "another file name": good.replace(f"call-{one}.wav", "recording-0123456789abcdef.wav"),
        "an unknown call": world.link(999),
    }
    for what, link in refused.items():
        response = await world.client.get(link)
        assert (response.status_code, response.text) == (404, NOT_FOUND), what
        assert "content-range" not in response.headers, what
    assert (await world.client.get(good)).status_code == 200
    # Not a link's shape at all: no route takes it.
    escape = good.replace(f"call-{one}.wav", "..%2F..%2Fcallscribe.db")
    assert (await world.client.get(escape)).status_code == 404


async def test_nothing_is_ever_listed(world: World) -> None:
    call_id = world.add()
    query = world.link(call_id).split("?")[1]
    for path in (
        "/recordings",
        "/recordings/",
        f"/recordings/{call_id}",
        f"/recordings/{call_id}/",
    ):
        response = await world.client.get(f"{path}?{query}")
        assert response.status_code == 404, path
        assert b"call-" not in response.content
        assert b"recording-" not in response.content


async def test_retention_keeps_a_linked_recording_its_days_then_the_link_is_404(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    delivered = world.add("done")
    failed = world.add("transcribe_failed")
    world.now[0] += 30 * 86400  # a link made late enough to outlive the recording
    link = world.link(delivered)
    settings = world.settings()
    result = await purge(world.astore, settings, now=world.clock.now + timedelta(days=6))
    assert result.recordings == 1  # the failed call's: nobody was given a link to it
    assert world.store.call_facts([failed])[failed].recording_purged_at is not None
    assert (await world.client.get(link)).status_code == 200
    with caplog.at_level(logging.INFO):
        result = await purge(
            world.astore, settings, now=world.clock.now + timedelta(days=7, seconds=1)
        )
        assert result.recordings == 1
        response = await world.client.get(link)
    assert (response.status_code, response.text) == (404, NOT_FOUND)
    assert "the recording was deleted by retention" in caplog.text
    assert world.store.call_facts([delivered])[delivered].recording_purged_at is not None


async def test_the_key_and_signatures_never_reach_the_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    call_id = world.add()
    link = world.link(call_id)
    query = _query(link)
    with caplog.at_level(logging.DEBUG):
        await world.client.get(link)
        await world.client.get(link, headers={"Range": "bytes=0-9"})
        await world.client.get(link.replace(query["sig"], query["sig"][::-1]))
        await world.client.get(world.link(999))
    # The test's own client (httpx) logs the URLs it requests; the daemon's side must not.
    text = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("callscribe", "uvicorn", "starlette"))
    )
    assert f"call {call_id} sent to" in text
    assert "refused (the link is forged, altered or expired)" in text
    assert "refused (no such recording for this call)" in text
    for secret in (KEY.decode(), query["sig"], query["sig"][::-1], query["expires"]):
        assert secret not in text


async def test_without_links_there_is_no_recordings_route(tmp_path: Path) -> None:
    app = create_app(sources={}, ingest=_no_webhooks, readiness=dict, metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        links = RecordingLinks(KEY, PUBLIC, 3600)
        split = urlsplit(links.url(1, ".wav"))
        response = await client.get(f"{split.path}?{split.query}")
    assert response.status_code == 404
