"""``callscribe run`` hearing the captured Asterisk stream through the AMI stand-in.

The replay is cut the way a real link fails: after calls 1 and 2 the connection is
dropped and call 3 (abandoned) happens while nobody listens; in the middle of call 4 the
link goes silent without closing and the call ends before the watchdog notices.  Gap
recovery must bring both in.  Then call 5 (MixMonitor ``D`` stereo) comes live.  The
three recorded calls must be transcribed with operator and client right — checked against
the prompts' texts loosely (word error rate), never against exact model output — and the
two missed calls delivered as missed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callscribe.testing import Daemon, free_port, running, wait_for
from callscribe.transcription.accuracy import wer
from tests.standins.asterisk import RECORDINGS, SECRET, AmiServer, captured_messages

pytestmark = pytest.mark.slow

REMOTE = "/var/spool/asterisk/monitor"
BASES = {
    "1795303482.0": "20261121-232442-1795303482.0",
    "1795303485.4": "20261121-232445-1795303485.4",
    "1795303507.8": "20261121-232507-1795303507.8",
    "1795303514.12": "20261121-232514-1795303514.12",
    "1795303532.16": "20261121-232532-1795303532.16",
}
OPERATOR = (
    "Здравствуйте! Добро пожаловать в директорию. Секундочку, пожалуйста. Оставайтесь на "
    "линии. Происходит соединение с абонентом. Благодарим за терпение. До свидания!"
)
CLIENT = "Здравствуйте! Информация о вашем последнем звонке. Спасибо."
# Call 4: the client hangs up two seconds into the operator's second turn.
OPERATOR_CUT = (
    "Здравствуйте! Добро пожаловать в директорию. Секундочку, пожалуйста. Оставайтесь на линии."
)
CLIENT_CUT = "Здравствуйте! Информация о вашем последнем звонке."


def config(state: Path, port: int, ami: AmiServer, spool: Path) -> str:
    return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1

[retry]
fetch = [1, 1, 2, 2, 5]
transcribe = [1]
delivery = [1, 1, 1]
jitter = 0.0

[sources.pbx]
type = "asterisk"
port = {ami.port}
username = "callscribe"
secret = "{SECRET}"
recordings = ["{spool}"]
path_map = {{ "{REMOTE}" = "{spool}" }}
inbound_contexts = ["lab-inbound"]
ping_seconds = 1
ping_timeout_seconds = 3
reconnect_min_seconds = 0.2
reconnect_max_seconds = 1
recording_settle_seconds = 0.5
cdr_wait_seconds = 0.5

[sinks.archive]
type = "jsonl"
path = "{state}/archive.jsonl"

[[routes]]
sources = ["pbx"]
sinks = ["archive"]
calls = "all"
"""


class Pbx:
    """The daemon, the AMI stand-in and the spool folder it reads."""

    def __init__(self, tmp: Path, model_dir: Path, ami: AmiServer) -> None:
        self.ami = ami
        self.state = tmp / "state"
        self.spool = tmp / "monitor"
        self.spool.mkdir()
        port = free_port()
        (tmp / "callscribe.toml").write_text(config(self.state, port, ami, self.spool), "utf-8")
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def record(self, linkedid: str) -> None:
        """MixMonitor's files for one captured call appear in the spool."""
        for file in RECORDINGS.glob(f"{BASES[linkedid]}*"):
            shutil.copyfile(file, self.spool / file.name)

    def archived(self) -> dict[str, dict[str, Any]]:
        path = self.state / "archive.jsonl"
        if not path.exists():
            return {}
        lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        return {line["call"]["external_id"]: line for line in lines}


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Pbx]:
    with AmiServer() as ami:
        world = Pbx(tmp_path_factory.mktemp("asterisk"), model_dir, ami)
        messages = captured_messages()
        with running(world.daemon):
            ami.wait_logins(1)
            world.record("1795303482.0")
            world.record("1795303485.4")
            ami.send(messages[:197])  # calls 1 and 2, whole
            ami.drop()
            world.record("1795303507.8")  # call 3 rings and is abandoned while the link is down
            ami.wait_logins(2)
            world.record("1795303514.12")
            ami.send(messages[272:343])  # call 4 up to the bridge
            ami.stall()  # ... and the rest of it is said into a link nobody hears
            ami.wait_logins(3)
            world.record("1795303532.16")
            ami.send(messages[376:])  # call 5, live
            wait_for(lambda: len(world.archived()) == 5, 300, "five calls in the archive")
            yield world


def speakers_text(line: dict[str, Any], speaker: str) -> str:
    return " ".join(s["text"] for s in line["transcript"]["segments"] if s["speaker"] == speaker)


def test_every_call_arrives_once_despite_a_drop_and_a_stall(pbx: Pbx) -> None:
    archived = pbx.archived()
    assert sorted(archived) == sorted(BASES)
    lines = (pbx.state / "archive.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 5
    assert pbx.ami.logins == 3


@pytest.mark.parametrize("linkedid", ["1795303485.4", "1795303507.8"])
def test_missed_calls_are_delivered_as_missed(pbx: Pbx, linkedid: str) -> None:
    line = pbx.archived()[linkedid]
    assert line["transcript"] is None
    assert line["call"]["answered_at"] is None
    assert line["call"]["state"] in ("no_recording", "done")


@pytest.mark.parametrize(
    ("linkedid", "operator", "client"),
    [
        ("1795303482.0", OPERATOR, CLIENT),  # leg files, heard live
        ("1795303514.12", OPERATOR_CUT, CLIENT_CUT),  # leg files, ended during the stall
        ("1795303532.16", OPERATOR, CLIENT),  # D stereo, client on the left
    ],
)
def test_recorded_calls_are_transcribed_with_operator_and_client_apart(
    pbx: Pbx, linkedid: str, operator: str, client: str
) -> None:
    line = pbx.archived()[linkedid]
    assert line["call"]["client_number"]
    assert line["call"]["operator_id"] == "op-normal"
    said_by_operator = speakers_text(line, "operator")
    said_by_client = speakers_text(line, "client")
    assert wer(operator, said_by_operator) < 0.35, said_by_operator
    assert wer(client, said_by_client) < 0.35, said_by_client
    # Swapped sides would score far worse: the texts share only «Здравствуйте».
    assert wer(client, said_by_operator) > 0.6


def test_readiness_and_metrics_show_the_ami_link(pbx: Pbx) -> None:
    ready = httpx.get(f"{pbx.daemon.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["source pbx"] is True
    metrics = httpx.get(f"{pbx.daemon.url}/metrics", timeout=10).text
    assert 'callscribe_source_up{source="pbx"} 1.0' in metrics
    assert 'callscribe_source_connects{source="pbx"} 3.0' in metrics
    assert 'callscribe_source_state{source="pbx",state="connected"} 1.0' in metrics
    assert 'callscribe_calls_received_total{source="pbx"} 5.0' in metrics


def test_readiness_fails_while_asterisk_is_away(pbx: Pbx) -> None:
    logins = pbx.ami.logins
    pbx.ami.refuse_login = True  # the link dies, and Asterisk will not have us back yet
    pbx.ami.stall()
    wait_for(
        lambda: httpx.get(f"{pbx.daemon.url}/readyz", timeout=10).status_code == 503,
        30,
        "readyz to notice",
    )
    assert httpx.get(f"{pbx.daemon.url}/readyz", timeout=10).json()["source pbx"] is False
    metrics = httpx.get(f"{pbx.daemon.url}/metrics", timeout=10).text
    assert 'callscribe_source_up{source="pbx"} 0.0' in metrics
    pbx.ami.refuse_login = False
    pbx.ami.wait_logins(logins + 1)
    wait_for(
        lambda: httpx.get(f"{pbx.daemon.url}/readyz", timeout=10).status_code == 200,
        30,
        "readyz to recover",
    )
