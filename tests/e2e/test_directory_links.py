"""The daemon end to end with a FreePBX folder: a recording dropped under YYYY/MM/DD with
its sidecar reaches a sink with its details, and its signed link plays from the daemon."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf

from callscribe.daemon.links import KEY_FILE, RecordingLinks, stored_key
from callscribe.testing import Daemon, free_port, running, wait_for
from tests.samples import SAMPLES

pytestmark = pytest.mark.slow

NAME = "in-74950000000-79991234567-20241105-091730-1730780250.107"
BAD_DATE = "q-600-79997654321-20241399-101500-1730780999.3"
PUBLIC = "https://calls.example.com"


class World:
    def __init__(self, tmp: Path, model_dir: Path) -> None:
        self.state = tmp / "state"
        self.inbox = tmp / "monitor"
        self.archive = self.state / "archive.jsonl"
        port = free_port()
        (tmp / "callscribe.toml").write_text(
            f"""
[daemon]
state_dir = "{self.state}"
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC}"
sweep_seconds = 1

[sources.freepbx]
type = "directory"
path = "{self.inbox}"
recursive = true
settle_seconds = 1
poll_seconds = 0.2
timezone = "Europe/Moscow"

[sinks.archive]
type = "jsonl"
path = "{self.archive}"

[[routes]]
sources = ["freepbx"]
sinks = ["archive"]
calls = "all"
""",
            encoding="utf-8",
        )
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def delivered(self) -> dict[str, dict[str, object]]:
        if not self.archive.exists():
            return {}
        lines = [json.loads(line) for line in self.archive.read_text().splitlines() if line]
        return {line["call"]["external_id"].split("@")[0]: line for line in lines}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("freepbx"), model_dir)
    day = world.inbox / "2024" / "11" / "05"
    day.mkdir(parents=True)
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    sidecar = {"operator": {"id": "101", "name": "Анна"}, "fields": {"ticket": 512}}
    (day / f"{NAME}.json").write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
    sf.write(day / f"{NAME}.wav", audio[: 8 * rate], rate, subtype="PCM_16")
    sf.write(day / f"{BAD_DATE}.wav", np.zeros((rate, 2), dtype=np.int16), rate)
    with running(world.daemon):
        wait_for(lambda: len(world.delivered()) == 2, 180, "both calls in the archive")
        yield world


def test_a_dropped_freepbx_recording_arrives_with_its_details(world: World) -> None:
    call = world.delivered()[f"2024/11/05/{NAME}.wav"]["call"]
    assert call["direction"] == "inbound"
    assert call["client_number"] == "79991234567"
    assert call["line_number"] == "74950000000"
    assert (call["operator_id"], call["operator_name"]) == ("101", "Анна")
    assert call["started_at"] == "2024-11-05T09:17:30+03:00"


def test_an_unreadable_name_costs_only_its_details_and_is_logged_masked(world: World) -> None:
    call = world.delivered()[f"2024/11/05/{BAD_DATE}.wav"]["call"]
    assert (call["direction"], call["client_number"], call["started_at"]) == (
        "inbound",
        "79997654321",
        None,
    )
    log = world.daemon.log.read_text(encoding="utf-8")
    assert "time: 20241399-101500 is not a date and time" in log
    assert "79997654321" not in log  # the file name's number, masked like any other


def test_the_daemon_serves_the_calls_signed_link(world: World) -> None:
    key_file = world.state / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with sqlite3.connect(world.state / "callscribe.db") as db:
        ((call_id,),) = db.execute(
            "SELECT id FROM calls WHERE external_id LIKE ?", (f"2024/11/05/{NAME}.wav@%",)
        ).fetchall()
    link = urlsplit(RecordingLinks(stored_key(key_file), PUBLIC, 3600).url(call_id, ".wav"))
    url = f"{world.daemon.url}{link.path}?{link.query}"
    whole = httpx.get(url, timeout=30)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    original = (world.inbox / "2024" / "11" / "05" / f"{NAME}.wav").read_bytes()
    assert whole.content == original
    part = httpx.get(url, headers={"Range": "bytes=-1000"}, timeout=30)
    assert (part.status_code, part.content) == (206, original[-1000:])
    assert httpx.get(url.replace("sig=", "sig=x"), timeout=30).status_code == 404
    assert link.query not in world.daemon.log.read_text(encoding="utf-8")
