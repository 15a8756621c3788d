"""Mango Office end to end: ``callscribe run`` with a mango source, Mango's stand-in on
loopback (signed API, single-use links), a helpdesk, and the real model.  A recorded call
announced by summary and record/added ends transcribed in the helpdesk; a missed call
ends there as a missed call; nothing secret is left in the log or the database."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from callscribe.testing import Daemon, SinkServer, free_port, running, wait_for
from tests.samples import SAMPLES
from tests.standins.mango import MangoStandIn, record_added, summary

pytestmark = pytest.mark.slow

KEY = "vpbx-e2e-code-0123456789"
SALT = "e2e-salt-5d2c9a71"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def short_call() -> bytes:
    """A 12-second stereo excerpt of a sample call: one turn each (WAV bytes)."""
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    out = io.BytesIO()
    sf.write(out, audio[: 12 * rate], rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


class World:
    def __init__(self, tmp: Path, model_dir: Path) -> None:
        self.state = tmp / "state"
        self.mango = MangoStandIn(KEY, SALT)
        self.helpdesk = SinkServer()
        port = free_port()
        config = f"""
[daemon]
state_dir = "{self.state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1

[retry]
fetch = [1, 1, 1]
delivery = [1, 1, 1]
jitter = 0.0

[sources.mango]
type = "mango"
api_key = "{KEY}"
api_salt = "{SALT}"
api_url = "{self.mango.api_url}"
allow_http = true
loopback_ports = [{self.mango.port}]
more_recordings_seconds = 0

[sinks.helpdesk]
type = "webhook"
url = "{self.helpdesk.url}/calls"

[[routes]]
sources = ["mango"]
sinks = ["helpdesk"]
calls = "all"
"""
        (tmp / "callscribe.toml").write_text(config, encoding="utf-8")
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def notify(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        url = f"{self.daemon.url}/hooks/mango/events/{event}"
        return httpx.post(url, content=self.mango.webhook(payload), headers=FORM, timeout=30)

    def ticket(self, external_id: str) -> dict[str, Any]:
        (ticket,) = [
            t for t in self.helpdesk.tickets.values() if t["call"]["external_id"] == external_id
        ]
        return ticket


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("mango"), model_dir)
    with world.mango, world.helpdesk, running(world.daemon):
        yield world


def test_a_recorded_call_announced_by_both_webhooks_is_transcribed(world: World) -> None:
    world.mango.recordings["REC-1"] = short_call()
    assert world.notify("summary", summary("E-1")).status_code == 200
    assert world.notify("record/added", record_added("E-1", "REC-1")).status_code == 200
    helpdesk = world.helpdesk
    wait_for(lambda: helpdesk.tickets_for("E-1") == 1, 180, "the transcribed call")
    ticket = world.ticket("E-1")
    assert ticket["call"]["direction"] == "inbound"
    assert ticket["call"]["client_number"] == "79991234567"
    assert ticket["call"]["operator_id"] == "101"
    assert ticket["call"]["started_at"] == "2025-11-21T10:00:00+03:00"
    speakers = {s["speaker"] for s in ticket["transcript"]["segments"]}
    assert speakers == {"operator", "client"}
    assert "клавиш" in ticket["dialogue"].lower()

    (token,) = world.mango.links  # one signed request, one single-use link, used once
    assert world.mango.downloads == [token]
    log = world.daemon.log.read_text("utf-8")
    database = b"".join(p.read_bytes() for p in world.state.glob("callscribe.db*"))
    for secret in (token, KEY, SALT):
        assert secret not in log
        assert secret.encode() not in database
    metrics = httpx.get(f"{world.daemon.url}/metrics", timeout=10).text
    assert 'callscribe_source_api_paused_seconds{source="mango"} 0.0' in metrics


def test_a_missed_call_ends_as_a_missed_call(world: World) -> None:
    assert world.notify("summary", summary("E-2", talked=False)).status_code == 200
    helpdesk = world.helpdesk
    wait_for(lambda: helpdesk.tickets_for("E-2") == 1, 60, "the missed call")
    ticket = world.ticket("E-2")
    assert ticket["transcript"] is None
    assert ticket["call"]["state"] == "no_recording"
    assert ticket["call"]["answered_at"] is None

    def state() -> list[tuple[str]]:
        with sqlite3.connect(world.state / "callscribe.db", timeout=10) as db:
            return db.execute("SELECT state FROM calls WHERE external_id = 'E-2'").fetchall()

    wait_for(lambda: state() == [("done",)], 30, "the missed call done")
