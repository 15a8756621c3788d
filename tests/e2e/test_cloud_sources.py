"""UIS and Calltouch end to end: the real daemon and model, the vendors' stand-ins.

For each vendor: a recorded call announced by webhook ends transcribed in the sink; a
missed call ends there as missed; ``callscribe backfill``, run beside the daemon, brings
a day of past calls in once — the call the webhook already brought stays one call — and
the daemon transcribes what it queued.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from callscribe.testing import Daemon, free_port, running, wait_for
from tests.samples import SAMPLES
from tests.standins import calltouch as ct
from tests.standins import uis
from tests.standins.uis import fill, template

pytestmark = pytest.mark.slow

TOKEN = secrets.token_urlsafe(32)
UIS_KEY = "uis-api-" + secrets.token_hex(12)
CT_KEY = "ct-" + secrets.token_hex(16)
SITE = "54321"
TALK = "/system/media/talk/5001/r1/"
PAST = "/system/media/talk/5002/r1/"


def excerpt(folder: Path) -> bytes:
    """A 12-second stereo excerpt of a sample call: one turn each."""
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    path = folder / "short.wav"
    sf.write(path, audio[: 12 * rate], rate, subtype="PCM_16")
    return path.read_bytes()


def config(state: Path, port: int, media: uis.Media, data: uis.DataApi, api: ct.Api) -> str:
    return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
sweep_seconds = 1

[retry]
fetch = [1, 1, 1]
jitter = 0.0

[sources.uis]
type = "uis"
token = "{TOKEN}"
recording_hosts = ["127.0.0.1"]
allow_http = true
loopback_ports = [{media.port}]
recording_wait_seconds = 60
api_url = "{data.endpoint}"
api_token = "{UIS_KEY}"
api_interval_seconds = 0

[sources.ct]
type = "calltouch"
token = "{TOKEN}"
site_id = "{SITE}"
client_api_id = "{CT_KEY}"
api_url = "{api.url}"
allow_http = true
loopback_ports = [{api.port}]
allowed_ips = ["127.0.0.0/8"]
api_interval_seconds = 0

[sinks.archive]
type = "jsonl"
path = "{state / "archive.jsonl"}"

[[routes]]
sinks = ["archive"]
calls = "all"
"""


@dataclass
class World:
    daemon: Daemon
    state: Path
    config: Path
    media: uis.Media
    ct_api: ct.Api

    def archived(self, source: str, external_id: str) -> list[dict[str, Any]]:
        path = self.state / "archive.jsonl"
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        return [
            line
            for line in lines
            if (line["call"]["source"], line["call"]["external_id"]) == (source, external_id)
        ]

    def wait_archived(self, source: str, external_id: str) -> dict[str, Any]:
        wait_for(lambda: self.archived(source, external_id), 180, f"{source} {external_id}")
        (line,) = self.archived(source, external_id)
        return line

    def backfill(self, source: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callscribe", "backfill", "--config", str(self.config),
             "--source", source, "--since", "2026-11-20", "--until", "2026-11-20"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("cloud")
    audio = excerpt(tmp)
    past_calls = [
        uis.Call(5001, "2026-11-20 09:00:00", full_record_file_link=None, records=[]),
        uis.Call(5002, "2026-11-20 10:00:00"),
        uis.Call(5003, "2026-11-20 11:00:00", is_lost=True),
    ]
    ct_records = [
        ct.record(6001, "20/11/2026 09:00:00"),
        ct.record(6002, "20/11/2026 10:00:00"),
        ct.record(6003, "20/11/2026 11:00:00", successful=False),
    ]
    with (
        uis.Media({TALK: audio, PAST: audio}, missing_first=1) as media,
        uis.DataApi(UIS_KEY, past_calls) as data,
        ct.Api(SITE, CT_KEY, ct_records, {"6001": audio, "6002": audio}, missing_first=1) as api,
    ):
        # The report points at the stand-in's media server, as UIS's points at its own.
        past_calls[0].full_record_file_link = media.link(TALK)
        past_calls[1].full_record_file_link = media.link(PAST)
        state, port = tmp / "state", free_port()
        path = tmp / "callscribe.toml"
        path.write_text(config(state, port, media, data, api), encoding="utf-8")
        daemon = Daemon(path, port, model_dir, tmp / "daemon.log")
        with running(daemon):
            yield World(daemon, state, path, media, api)


def post_uis(world: World, event: str, values: dict[str, Any]) -> int:
    body = fill(template(event).body(TOKEN), values)
    return httpx.post(f"{world.daemon.url}/hooks/uis", content=body, timeout=30).status_code


def test_uis_a_recorded_call_ends_transcribed(world: World) -> None:
    assert post_uis(world, "call_end", uis.call_end_values(5001)) == 200
    talk = {"call_session_id": 5001, "file_link": world.media.link(TALK), "employee_id": 4242}
    assert post_uis(world, "recorded_talk", talk) == 200
    line = world.wait_archived("uis", "5001")
    assert line["call"]["operator_id"] == "4242"
    speakers = {s["speaker"] for s in line["transcript"]["segments"]}
    assert speakers == {"operator", "client"}
    assert "клавиш" in line["dialogue"].lower()


def test_uis_a_lost_call_ends_missed(world: World) -> None:
    assert post_uis(world, "lost_call", {"call_session_id": 5009, "direction": "in"}) == 200
    line = world.wait_archived("uis", "5009")
    assert line["transcript"] is None
    assert line["call"]["answered_at"] is None


def test_calltouch_a_recorded_call_ends_transcribed(world: World) -> None:
    url = f"{world.daemon.url}/hooks/ct/{TOKEN}"
    answer = _get(url, ct.as_params(ct.record(6001, "20/11/2026 09:00:00")))
    assert answer == 200
    line = world.wait_archived("ct", "6001")
    assert line["call"]["client_number"] == "79991234567"
    assert {s["speaker"] for s in line["transcript"]["segments"]} == {"operator", "client"}
    downloads = world.ct_api.requests_to(
        f"/calls-service/RestAPI/{SITE}/calls-diary/calls/6001/download"
    )
    assert len(downloads) == 2  # 404 while Calltouch processes it, then the file
    assert all(r.query == {"clientApiId": CT_KEY} for r in downloads)


def test_calltouch_an_unanswered_call_ends_missed(world: World) -> None:
    params = ct.as_params(ct.record(6009, "20/11/2026 12:00:00", successful=False))
    assert _get(f"{world.daemon.url}/hooks/ct/{TOKEN}", params) == 200
    assert world.wait_archived("ct", "6009")["transcript"] is None


@pytest.mark.parametrize(
    ("source", "first", "new", "missed"),
    [("uis", "5001", "5002", "5003"), ("ct", "6001", "6002", "6003")],
)
def test_a_backfill_beside_the_daemon_brings_the_day_in_once(
    world: World, source: str, first: str, new: str, missed: str
) -> None:
    if not world.archived(source, first):  # run alone: the webhook's call first
        WEBHOOK_CALLS[source](world)
    done = world.backfill(source)
    assert done.returncode == 0, done.stderr
    assert "calls: 3 found: 2 new, 1 already known, 0 failed; 2 with a recording" in done.stdout
    assert world.wait_archived(source, new)["transcript"]["segments"]
    assert world.wait_archived(source, missed)["transcript"] is None
    assert len(world.archived(source, first)) == 1
    again = world.backfill(source)
    assert "0 read, 1 finished by an earlier backfill (skipped)" in again.stdout
    log = world.daemon.log.read_text("utf-8")
    assert not [secret for secret in (CT_KEY, UIS_KEY, TOKEN) if secret in log]


WEBHOOK_CALLS = {
    "uis": test_uis_a_recorded_call_ends_transcribed,
    "ct": test_calltouch_a_recorded_call_ends_transcribed,
}


def _get(url: str, params: dict[str, str]) -> int:
    return httpx.get(url, params=params, timeout=30).status_code
