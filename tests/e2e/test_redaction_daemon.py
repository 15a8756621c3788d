"""Issue 23's promise through ``callscribe run``: a call in which the client reads out a
card number reaches a helpdesk with the number behind a marker, T-Bank TQM with it
silenced in the audio, and the local archive as the configuration says (here: in full).

One daemon, one model run (tests/data/redaction/card-call.wav: the client reads the card
in groups of four, the operator says «Спасибо» between them).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, running, wait_for
from tests.standins.tqm import PATH, TqmServer

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent.parent / "data" / "redaction"
TOKEN = "e2e-token-0123456789abcdef"
TQM_KEY = "UuMlW1BUJzVsUM7Q"
CARD = "2204185007024531"  # what the client reads (Luhn-valid)

CONFIG = """
[daemon]
state_dir = {state}
listen = "127.0.0.1:{port}"

[retry]
delivery = [1, 1, 1]
jitter = 0.0

[redaction]
enabled = true
audio = true

[redaction.sinks.archive]   # the local archive keeps the full text
enabled = false

[sources.pbx]
type = "generic"
token = "{token}"
allow_http = true
loopback_ports = [{files_port}]

[sinks.helpdesk]
type = "webhook"
url = "{helpdesk}/tickets"

[sinks.tqm]
type = "tqm"
url = "{tqm}{tqm_path}"
access_key = "{tqm_key}"
upload = "file"

[sinks.archive]
type = "jsonl"
path = {archive}

[[routes]]
sinks = ["helpdesk", "tqm", "archive"]
"""


class World:
    def __init__(self, tmp: Path, model_dir: Path) -> None:
        recordings = tmp / "recordings"
        recordings.mkdir()
        shutil.copy(DATA / "card-call.wav", recordings / "card.wav")
        self.files = FileServer(recordings)
        self.helpdesk = SinkServer()
        self.tqm = TqmServer(TQM_KEY)
        self.archive = tmp / "archive.jsonl"
        port = free_port()
        text = CONFIG.format(
            state=json.dumps(str(tmp / "state")), port=port, token=TOKEN,
            files_port=self.files.port, helpdesk=self.helpdesk.url, tqm=self.tqm.url,
            tqm_path=PATH, tqm_key=TQM_KEY, archive=json.dumps(str(self.archive)),
        )  # fmt: skip
        (tmp / "callscribe.toml").write_text(text, encoding="utf-8")
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("redaction"), model_dir)
    with world.files, world.helpdesk, world.tqm, running(world.daemon):
        response = httpx.post(
            f"{world.daemon.url}/hooks/pbx",
            json={
                "id": "card-call-1",
                "direction": "inbound",
                "started_at": "2026-12-04T10:00:00+03:00",
                "ended_at": "2026-12-04T10:00:20+03:00",
                "client_number": "+79161234567",
                "recording_url": f"{world.files.url}/card.wav",
            },
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        wait_for(lambda: world.helpdesk.tickets_for("card-call-1") == 1, 180, "the ticket")
        wait_for(lambda: bool(world.tqm.imported("card-call-1")), 60, "the TQM import")
        wait_for(world.archive.exists, 60, "the archive line")
        yield world


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def ticket(world: World) -> dict[str, Any]:
    (found,) = [t for t in world.helpdesk.tickets.values() if t["call"]["external_id"]]
    return found


def test_the_helpdesk_gets_the_card_behind_a_marker(world: World) -> None:
    document = ticket(world)
    assert "[номер карты]" in document["dialogue"]
    assert CARD[:4] not in digits(document["dialogue"])
    said = " ".join(s["text"] for s in document["transcript"]["segments"])
    assert len(digits(said)) < 4, said  # no group of the card is left in any segment
    (card,) = [r for r in document["transcript"]["redactions"] if r["kind"] == "card"]
    assert set(card) == {"kind", "speaker", "start", "end"}  # never the value
    assert card["speaker"] == "client"
    assert 0.0 <= card["start"] < 2.0
    assert card["end"] > 17.0


def test_tqm_gets_the_card_silenced_in_the_audio(world: World) -> None:
    (imported,) = world.tqm.imported("card-call-1")
    assert imported.audio is not None
    card = next(r for r in ticket(world)["transcript"]["redactions"] if r["kind"] == "card")
    rate = imported.rate
    inside = imported.audio[int(card["start"] * rate) : int(card["end"] * rate)]
    before = imported.audio[: max(int(card["start"] * rate), 1)]
    # MP3 leaves a whisper of codec noise in silence; speech is thousands of times louder.
    assert float(np.sqrt(np.mean(np.square(inside)))) < 1e-3
    assert float(np.abs(imported.audio).max()) > 0.05  # the rest of the call is there
    assert before.size > 0


def test_the_archive_keeps_what_the_configuration_says(world: World) -> None:
    (line,) = world.archive.read_text("utf-8").splitlines()
    document = json.loads(line)
    assert "[номер карты]" not in document["dialogue"]
    assert len(digits(document["dialogue"])) >= 12  # the card as the model heard it
    assert not document["transcript"].get("redactions")
    log = world.daemon.log.read_text("utf-8")
    assert "value(s) hidden (card" in log
    groups = [", ".join(CARD[i : i + 4]) for i in range(0, 16, 4)]  # as the model writes them
    assert not [group for group in groups if group in log]
