"""The daemon delivers to Qolio, Usedesk and Okdesk stand-ins: a recorded call to each once,
a missed call to Okdesk as an issue, and once only across a kill -9 between a platform's
success and callscribe's commit.

One daemon (generic webhook source, the three sinks) serves the module; the crash test
restarts it.  Two short calls go through the model.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callscribe.testing import Daemon, FileServer, free_port, running, wait_for
from tests.e2e.helpdesks import (
    daemon_tables,
    delivered,
    kill_while_held,
    release_and_restart,
)
from tests.e2e.test_daemon import recordings  # noqa: F401 - fixture
from tests.standins.okdesk import OkdeskStandIn
from tests.standins.qolio import QolioStandIn
from tests.standins.usedesk import UsedeskStandIn

pytestmark = pytest.mark.slow

SOURCE_TOKEN = "e2e-helpdesk-token-0123456789"
QOLIO_TOKEN = "qolio-e2e-token"
USEDESK_TOKEN = "usedesk-e2e-token"
OKDESK_TOKEN = "okdesk-e2e-token-5a1f9c"
IVAN = 12


class World:
    def __init__(self, tmp: Path, recordings: Path, model_dir: Path) -> None:  # noqa: F811
        self.state = tmp / "state"
        self.files = FileServer(recordings)
        self.qolio = QolioStandIn(QOLIO_TOKEN, operators={"ivan@example.com"})
        self.usedesk = UsedeskStandIn(USEDESK_TOKEN)
        self.okdesk = OkdeskStandIn(OKDESK_TOKEN, employees={IVAN})
        port = free_port()
        (tmp / "callscribe.toml").write_text(self.config(port), encoding="utf-8")
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def config(self, port: int) -> str:
        return f"""{daemon_tables(self.state, port)}
[sources.pbx]
type = "generic"
token = "{SOURCE_TOKEN}"
allow_http = true
loopback_ports = [{self.files.port}]

{self.qolio.sink_config("qolio")}
operators = {{ "101" = "ivan@example.com" }}

{self.usedesk.sink_config("usedesk")}
time_zone = "Europe/Moscow"

{self.okdesk.sink_config("okdesk")}
employees = {{ "101" = {IVAN} }}

[[routes]]
sources = ["pbx"]
sinks = ["qolio", "usedesk", "okdesk"]

[[routes]]
sources = ["pbx"]
sinks = ["okdesk"]
calls = "missed"
"""

    def post(self, call_id: str, number: str, *, recorded: bool = True) -> None:
        body: dict[str, Any] = {
            "id": call_id,
            "direction": "inbound",
            "started_at": "2026-11-21T10:00:00+03:00",
            "ended_at": "2026-11-21T10:00:17+03:00",
            "client_number": number,
            "operator": {"id": "101", "name": "Иван"},
        }
        if recorded:
            body |= {
                "answered_at": "2026-11-21T10:00:05+03:00",
                "recording_url": f"{self.files.url}/short.wav",
            }
        answer = httpx.post(
            f"{self.daemon.url}/hooks/pbx",
            json=body,
            headers={"authorization": f"Bearer {SOURCE_TOKEN}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def delivered(self, call_id: str, sinks: set[str]) -> bool:
        return delivered(self.state, call_id, sinks)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    recordings: Path,  # noqa: F811
    model_dir: Path,
) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("helpdesks"), recordings, model_dir)
    with world.files, world.qolio, world.usedesk, world.okdesk, running(world.daemon):
        yield world


def test_a_recorded_call_reaches_each_platform_once_in_its_format(world: World) -> None:
    client = world.usedesk.add_client("79991234567")
    ticket = world.usedesk.add_ticket(client, status=1)
    contact = world.okdesk.add_contact("Анна", "Смирнова", "+79991234567")
    world.post("e2e-1", "+79991234567")
    wait_for(
        lambda: world.delivered("e2e-1", {"qolio", "usedesk", "okdesk"}),
        180,
        f"three deliveries (log: {world.daemon.log})",
    )

    card = world.qolio.calls["pbx-e2e-1"]
    assert card["operator_id"] == "ivan@example.com"
    assert card["media_url"] == f"{world.files.url}/short.wav"
    assert {part["role"] for part in card["transcription"]} == {"operator", "client"}

    (comment,) = world.usedesk.comments(ticket)
    assert comment["type"] == "private"
    assert "Оператор: Иван" in comment["message"]
    assert "клавиш" in comment["message"].lower()
    assert "] Клиент: " in comment["message"]

    (issue,) = [i for i in world.okdesk.issues.values() if i.get("contact_id") == contact]
    assert issue["assignee_id"] == IVAN
    (okdesk_comment,) = issue["comments"]
    assert "] Оператор: " in okdesk_comment["content"]


def test_a_missed_call_is_an_okdesk_issue_without_a_transcript(world: World) -> None:
    world.post("e2e-missed", "+79990000001", recorded=False)
    wait_for(lambda: world.delivered("e2e-missed", {"okdesk"}), 60, "the missed-call issue")
    (issue,) = [i for i in world.okdesk.issues.values() if "+79990000001" in str(i.get("title"))]
    assert issue["title"] == "Пропущенный звонок +79990000001"
    assert "Статус: не успех" in issue["description"]
    assert issue["comments"] == []
    (created,) = [c for c in world.okdesk.contacts.values() if c["phone"] == "+79990000001"]
    assert issue["contact_id"] == created["id"]


def test_kill_9_between_the_platforms_success_and_the_commit_leaves_one_comment(
    world: World,
) -> None:
    client = world.usedesk.add_client("79997654321")
    ticket = world.usedesk.add_ticket(client, status=8)
    world.okdesk.add_contact("Пётр", "Иванов", "+79997654321")
    world.qolio.hold_after("POST", "/api/v1/integrations/")
    world.usedesk.hold_after("POST", "/create/comment")
    world.okdesk.hold_after("POST", r"/api/v1/issues/\d+/comments")
    world.post("e2e-crash", "+79997654321")
    platforms = (world.qolio, world.usedesk, world.okdesk)
    kill_while_held(world.daemon, platforms)
    looked_before = _listings(world, ticket)
    release_and_restart(world.daemon, platforms)
    wait_for(
        lambda: world.delivered("e2e-crash", {"qolio", "usedesk", "okdesk"}),
        180,
        f"the deliveries after the restart (log: {world.daemon.log})",
    )

    assert len(world.usedesk.comments(ticket)) == 1
    posted = [r.json() for r in world.usedesk.requests("POST", "/create/comment")]
    assert [p["ticket_id"] for p in posted].count(ticket) == 1  # found after the restart
    assert _listings(world, ticket) > looked_before  # it looked before posting again
    (issue,) = [i for i in world.okdesk.issues.values() if i["title"] == "Звонок +79997654321"]
    assert len(issue["comments"]) == 1
    assert world.okdesk.requests("GET", rf"/api/v1/issues/{issue['id']}/comments")
    assert [p["uid"] for p in world.qolio.posts()].count("pbx-e2e-crash") == 2
    assert list(world.qolio.calls).count("pbx-e2e-crash") == 1

    log = world.daemon.log.read_text("utf-8")
    with sqlite3.connect(world.state / "callscribe.db") as db:
        stored = " ".join(str(row) for row in db.execute("SELECT * FROM deliveries"))
    for secret in (OKDESK_TOKEN, USEDESK_TOKEN, QOLIO_TOKEN):
        assert secret not in log
        assert secret not in stored


def _listings(world: World, ticket: int) -> int:
    """How many times Usedesk was asked for this ticket and its comments."""
    asked = [r.json()["ticket_id"] for r in world.usedesk.requests("POST", "/ticket$")]
    return asked.count(ticket)
