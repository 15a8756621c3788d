"""The daemon end to end: real HTTP, real recordings server, real model, real helpdesks.

One daemon serves most tests; each test uses its own source so the sinks it routes to
can behave differently (healthy, flaky, refusing).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, running, wait_for
from callscribe.transcription.render import from_json_dict
from tests.groundtruth import assert_heard_as_said, excerpt
from tests.samples import SAMPLES, manifest

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-0123456789abcdef"
EXCERPT_SECONDS = 12
CALLS = {call["name"]: call for call in manifest()["calls"]}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-second stereo excerpt of a sample call: three turns."""
    folder = tmp_path_factory.mktemp("recordings")
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    sf.write(folder / "short.wav", audio[: EXCERPT_SECONDS * rate], rate, subtype="PCM_16")
    sf.write(folder / "silence.wav", np.zeros((2 * rate, 2), dtype=np.int16), rate)
    # What a PBX's web server hands out for a recording it has lost: a page, not audio.
    (folder / "page.wav").write_text("<html><body>404 Not Found</body></html>\n" * 20)
    return folder


def config(state: Path, port: int, files: FileServer, sinks: dict[str, SinkServer]) -> str:
    sections = [
        f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1
max_stalls = 100
stop_timeout_seconds = 20

[retry]
fetch = [1, 1, 1]
transcribe = [1]
delivery = [1, 1, 1]
jitter = 0.0

[sinks.archive]
type = "jsonl"
path = "{state}/archive.jsonl"
"""
    ]
    for name, sink in sinks.items():
        sections.append(
            f"""
[sources.{name}]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{files.port}]

[sinks.{name}]
type = "webhook"
url = "{sink.url}/calls"

[[routes]]
sources = ["{name}"]
sinks = ["{name}", "archive"]
calls = "all"
"""
        )
    return "".join(sections)


class World:
    def __init__(self, tmp: Path, recordings: Path, model_dir: Path) -> None:
        self.state = tmp / "state"
        self.files = FileServer(recordings)
        self.sinks = {
            "healthy": SinkServer(),
            "flaky": SinkServer(answers=[503]),
            "refusing": SinkServer(answers=[400] * 100),
        }
        port = free_port()
        (tmp / "callscribe.toml").write_text(
            config(self.state, port, self.files, self.sinks), encoding="utf-8"
        )
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def post(self, source: str, body: dict[str, Any], token: str = TOKEN) -> httpx.Response:
        return httpx.post(
            f"{self.daemon.url}/hooks/{source}",
            json=body,
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )

    def event(self, call_id: str, recording: str = "short.wav") -> dict[str, Any]:
        return {
            "id": call_id,
            "direction": "inbound",
            "started_at": "2026-11-21T10:00:00+03:00",
            "answered_at": "2026-11-21T10:00:05+03:00",
            "ended_at": "2026-11-21T10:00:17+03:00",
            "client_number": "+79991234567",
            "operator": {"id": "007", "name": "Иван"},
            "recording_url": f"{self.files.url}/{recording}",
        }

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.state / "callscribe.db", timeout=10) as db:
            return db.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, recordings: Path, model_dir: Path
) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("daemon"), recordings, model_dir)
    sinks = world.sinks
    with world.files, sinks["healthy"], sinks["flaky"], sinks["refusing"], running(world.daemon):
        yield world


def test_a_posted_call_is_transcribed_and_delivered(world: World) -> None:
    assert world.post("healthy", world.event("happy-1")).status_code == 200
    sink = world.sinks["healthy"]
    wait_for(lambda: sink.tickets_for("happy-1") == 1, 120, "the helpdesk ticket")
    (ticket,) = [t for t in sink.tickets.values() if t["call"]["external_id"] == "happy-1"]
    assert ticket["call"]["client_number"] == "+79991234567"
    assert ticket["call"]["operator_name"] == "Иван"
    speakers = {s["speaker"] for s in ticket["transcript"]["segments"]}
    assert speakers == {"operator", "client"}
    truth = excerpt(CALLS["call-public-00"], EXCERPT_SECONDS)
    segments = from_json_dict(ticket["transcript"]).segments
    assert_heard_as_said(truth, segments=segments, dialogue=ticket["dialogue"])
    wait_for(lambda: _archived(world, "happy-1") == 1, 30, "the archive line")
    metrics = httpx.get(f"{world.daemon.url}/metrics").text
    assert 'callscribe_calls_received_total{source="healthy"}' in metrics


def test_a_missed_call_is_delivered_without_a_transcript(world: World) -> None:
    body = world.event("missed-1")
    del body["recording_url"]
    body.pop("answered_at")
    assert world.post("healthy", body).status_code == 200
    sink = world.sinks["healthy"]
    wait_for(lambda: sink.tickets_for("missed-1") == 1, 60, "the missed-call ticket")
    (ticket,) = [t for t in sink.tickets.values() if t["call"]["external_id"] == "missed-1"]
    assert ticket["transcript"] is None
    assert ticket["dialogue"] is None
    assert ticket["call"]["answered_at"] is None


def test_duplicate_webhooks_make_one_call(world: World) -> None:
    body = world.event("dup-1")
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(world.post("healthy", body).status_code))
        for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 10
    assert world.query("SELECT count(*) FROM calls WHERE external_id = 'dup-1'") == [(1,)]
    sink = world.sinks["healthy"]
    wait_for(lambda: sink.tickets_for("dup-1") == 1, 120, "the ticket")
    assert sum(1 for p in sink.posts if p["call"]["external_id"] == "dup-1") == 1


def test_a_recording_that_is_not_audio_fails_alone_and_says_why(world: World) -> None:
    # Posted together, so the bad recording is decoded beside a good one: its error must
    # come back from the decoder process as it was raised and cost only its own call.
    assert world.post("healthy", world.event("page-1", recording="page.wav")).status_code == 200
    assert world.post("healthy", world.event("page-2")).status_code == 200
    sink = world.sinks["healthy"]
    wait_for(lambda: sink.tickets_for("page-2") == 1, 120, "the good call's ticket")
    sql = (
        "SELECT j.kind, j.state, j.error, j.attempts FROM jobs j JOIN calls c ON c.id = j.call_id "
        "WHERE c.external_id = 'page-1' AND j.state = 'dead'"
    )
    wait_for(lambda: world.query(sql), 60, "the bad call's dead job")
    ((kind, _, error, attempts),) = world.query(sql)
    assert kind == "transcribe"
    assert "not audio" in error
    assert "crash" not in error
    assert attempts == 1  # a file that is not audio is not retried
    assert sink.tickets_for("page-1") == 0
    done = (
        "SELECT count(*) FROM jobs j JOIN calls c ON c.id = j.call_id "
        "WHERE c.external_id = 'page-2' AND j.kind = 'transcribe' AND j.state = 'done'"
    )
    assert world.query(done) == [(1,)]


def test_a_helpdesk_that_fails_once_gets_the_call_once(world: World) -> None:
    assert world.post("flaky", world.event("flaky-1")).status_code == 200
    sink = world.sinks["flaky"]
    wait_for(lambda: sink.tickets_for("flaky-1") == 1, 120, "the ticket after a 503")
    posts = [p for p in sink.posts if p["call"]["external_id"] == "flaky-1"]
    assert len(posts) == 2
    assert posts[0]["idempotency_key"] == posts[1]["idempotency_key"]


def test_a_helpdesk_refusal_is_a_dead_letter_with_the_reason(world: World) -> None:
    assert world.post("refusing", world.event("refused-1")).status_code == 200
    sql = (
        "SELECT d.state, d.error FROM deliveries d JOIN calls c ON c.id = d.call_id "
        "WHERE c.external_id = 'refused-1' AND d.sink = 'refusing'"
    )
    wait_for(lambda: world.query(sql) and world.query(sql)[0][0] == "dead", 120, "a dead letter")
    ((_, error),) = world.query(sql)
    assert "400" in error
    posts = [p for p in world.sinks["refusing"].posts if p["call"]["external_id"] == "refused-1"]
    assert len(posts) == 1  # a 400 is not retried
    wait_for(lambda: _archived(world, "refused-1") == 1, 60, "the archive still gets it")


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{" + b" " * (1 << 20) + b"}", {"authorization": f"Bearer {TOKEN}"}, 413),
        (b"not json", {"authorization": f"Bearer {TOKEN}"}, 400),
        (b'{"id": "x", "colour": "red"}', {"authorization": f"Bearer {TOKEN}"}, 400),
        (b'{"id": "bad-auth"}', {"authorization": "Bearer wrong-token-0123456789"}, 401),
        (b'{"id": "no-auth"}', {}, 401),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(
    world: World, body: bytes, headers: dict[str, str], status: int
) -> None:
    before = world.query("SELECT count(*) FROM calls")
    response = httpx.post(f"{world.daemon.url}/hooks/healthy", content=body, headers=headers)
    assert response.status_code == status
    assert world.query("SELECT count(*) FROM calls") == before


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{daemon}/metrics",
        "http://[::ffff:7f00:1]:{files}/short.wav",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{daemon}/healthz",
    ],
)
def test_recording_urls_to_internal_addresses_are_refused(world: World, url: str) -> None:
    call_id = f"ssrf-{abs(hash(url))}"
    body = world.event(call_id) | {
        "recording_url": url.format(daemon=world.daemon.port, files=world.files.port)
    }
    seen_before = len(world.files.requests)
    assert world.post("healthy", body).status_code == 200
    sql = "SELECT state, error FROM calls WHERE external_id = ?"
    wait_for(lambda: world.query(sql, call_id)[0][0] == "failed", 60, "the call to fail")
    ((_, error),) = world.query(sql, call_id)
    assert "refused" in error
    assert len(world.files.requests) == seen_before


def test_a_recording_that_is_not_there_yet_is_fetched_later(
    tmp_path: Path, recordings: Path, model_dir: Path
) -> None:
    files = FileServer(recordings, missing_first=2)
    sink = SinkServer()
    port = free_port()
    state = tmp_path / "state"
    (tmp_path / "c.toml").write_text(config(state, port, files, {"late": sink}), "utf-8")
    daemon = Daemon(tmp_path / "c.toml", port, model_dir, tmp_path / "daemon.log")
    with files, sink, running(daemon):
        body = {"id": "late-1", "recording_url": f"{files.url}/short.wav"}
        answer = httpx.post(
            f"{daemon.url}/hooks/late", json=body, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200
        wait_for(lambda: sink.tickets_for("late-1") == 1, 120, "the ticket")
    assert files.requests.count("/short.wav") == 3


def _archived(world: World, external_id: str) -> int:
    path = world.state / "archive.jsonl"
    if not path.exists():
        return 0
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return sum(1 for line in lines if line["call"]["external_id"] == external_id)


def test_sigterm_finishes_or_gives_back_running_jobs(
    tmp_path: Path, recordings: Path, model_dir: Path
) -> None:
    files = FileServer(recordings)
    sink = SinkServer()
    port = free_port()
    state = tmp_path / "state"
    (tmp_path / "c.toml").write_text(config(state, port, files, {"pbx": sink}), "utf-8")
    daemon = Daemon(tmp_path / "c.toml", port, model_dir, tmp_path / "daemon.log")
    ids = [f"term-{n}" for n in range(6)]
    with files, sink:
        daemon.start()
        for call_id in ids:
            body = {"id": call_id, "recording_url": f"{files.url}/short.wav"}
            headers = {"authorization": f"Bearer {TOKEN}"}
            assert httpx.post(f"{daemon.url}/hooks/pbx", json=body, headers=headers).is_success
        running_sql = "SELECT count(*) FROM jobs WHERE state = 'running'"
        with sqlite3.connect(state / "callscribe.db", timeout=10) as db:
            wait_for(lambda: db.execute(running_sql).fetchone()[0] > 0, 60, "a running job")
        assert daemon.stop() == 0
        with sqlite3.connect(state / "callscribe.db", timeout=10) as db:
            assert db.execute(running_sql).fetchone() == (0,)
        with running(daemon):
            wait_for(lambda: all(sink.tickets_for(i) == 1 for i in ids), 180, "every ticket")


def test_sighup_reloads_the_configuration_and_keeps_a_bad_one_out(
    tmp_path: Path, recordings: Path, model_dir: Path
) -> None:
    files = FileServer(recordings)
    first, second = SinkServer(), SinkServer()
    port = free_port()
    state = tmp_path / "state"
    path = tmp_path / "c.toml"
    path.write_text(config(state, port, files, {"first": first}), "utf-8")
    daemon = Daemon(path, port, model_dir, tmp_path / "daemon.log")
    headers = {"authorization": f"Bearer {TOKEN}"}
    with files, first, second, running(daemon):
        assert daemon.process is not None
        path.write_text(config(state, port, files, {"first": first, "second": second}), "utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        body = {"id": "reloaded-1", "recording_url": f"{files.url}/short.wav"}
        wait_for(
            lambda: _post_quietly(f"{daemon.url}/hooks/second", body, headers) == 200,
            60,
            "the new source after SIGHUP",
        )
        wait_for(lambda: second.tickets_for("reloaded-1") == 1, 120, "the new sink's ticket")

        path.write_text("[daemon]\nlisten = 'nowhere'\n", "utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration not reloaded" in daemon.log.read_text(), 30, "the refusal")
        body = {"id": "after-bad-reload", "recording_url": f"{files.url}/short.wav"}
        assert httpx.post(f"{daemon.url}/hooks/first", json=body, headers=headers).is_success
        wait_for(lambda: first.tickets_for("after-bad-reload") == 1, 120, "old config still works")


def _post_quietly(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    try:
        return httpx.post(url, json=body, headers=headers, timeout=5).status_code
    except httpx.HTTPError:
        return 0  # the HTTP server restarts during a reload
