"""Issue 16 done end to end: ``callscribe run`` with a FreePBX recordings folder as its
source and Qolio, Usedesk and Okdesk stand-ins as its sinks.

- A recording dropped into the folder, named the FreePBX way, reaches each platform once
  in its format, with a signed link the test plays back from the daemon.
- Another one reaches each platform once across a kill -9 while every platform holds its
  answer: the work is done there, callscribe has not heard; after the restart it looks
  before it posts.
- A missed call becomes an Okdesk issue.  A folder of recordings cannot hold a call
  without one (the directory source takes audio files only, a lone sidecar is not a
  call), so missed calls come the way a PBX reports them anyway: the generic webhook,
  a second source in the same daemon.

The PBX is in Yekaterinburg (UTC+5), the supervisors read Moscow time: a time zone
forgotten anywhere shows.  Two 12-second calls go through the model.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import soundfile as sf

from callscribe.connectors.sinks.call_values import platform_id
from callscribe.connectors.sinks.qolio import MAX_UID_CHARS
from callscribe.domain import Segment, Speaker
from callscribe.testing import Daemon, free_port, running, wait_for
from tests.e2e.helpdesks import (
    daemon_tables,
    delivered,
    kill_while_held,
    query,
    release_and_restart,
)
from tests.groundtruth import assert_heard_as_said, excerpt
from tests.samples import SAMPLES, manifest
from tests.standins.okdesk import OkdeskStandIn
from tests.standins.qolio import QolioStandIn
from tests.standins.usedesk import UsedeskStandIn

pytestmark = pytest.mark.slow

PBX_ZONE = "Asia/Yekaterinburg"
SHOWN_ZONE = "Europe/Moscow"
SECONDS = 12
TRUTH = excerpt(next(c for c in manifest()["calls"] if c["name"] == "call-public-00"), SECONDS)
ANSWERED = "2026/12/04/in-74951234567-79161234567-20261204-101500-1733300100.12.wav"
CRASHED = "2026/12/04/out-79167654321-101-20261204-111500-1733303700.15.wav"
SOURCE_TOKEN = "freepbx-missed-calls-token-5d0c"
QOLIO_TOKEN = "qolio-freepbx-token"
USEDESK_TOKEN = "usedesk-freepbx-token"
OKDESK_TOKEN = "okdesk-freepbx-token-7c2e"
IVAN_QOLIO = "ivan@example.com"
IVAN_USEDESK = 55
IVAN_OKDESK = 12
PLATFORMS = ("qolio", "usedesk", "okdesk")
DIALOGUE_LINE = re.compile(r"^\[\d+:\d\d\] ")


class World:
    def __init__(self, tmp: Path, model_dir: Path) -> None:
        self.state = tmp / "state"
        self.inbox = tmp / "monitor"
        self.staging = tmp / "staging"
        self.staging.mkdir()
        self.qolio = QolioStandIn(QOLIO_TOKEN, operators={IVAN_QOLIO})
        self.usedesk = UsedeskStandIn(USEDESK_TOKEN)
        self.okdesk = OkdeskStandIn(OKDESK_TOKEN, employees={IVAN_OKDESK})
        port = free_port()
        (tmp / "callscribe.toml").write_text(self.config(port), encoding="utf-8")
        self.daemon = Daemon(tmp / "callscribe.toml", port, model_dir, tmp / "daemon.log")

    def config(self, port: int) -> str:
        daemon = daemon_tables(self.state, port, f'public_url = "http://127.0.0.1:{port}"')
        return f"""{daemon}
[sources.freepbx]
type = "directory"
path = "{self.inbox}"
recursive = true
settle_seconds = 1
poll_seconds = 0.2
timezone = "{PBX_ZONE}"

[sources.pbx]
type = "generic"
token = "{SOURCE_TOKEN}"

{self.qolio.sink_config("qolio")}
operators = {{ "101" = "{IVAN_QOLIO}" }}
custom_fields = {{ line = "line_number", uniqueid = "raw.recording_name.uniqueid" }}

{self.usedesk.sink_config("usedesk")}
time_zone = "{SHOWN_ZONE}"
agents = {{ "101" = {IVAN_USEDESK} }}

{self.okdesk.sink_config("okdesk")}
time_zone = "{SHOWN_ZONE}"
employees = {{ "101" = {IVAN_OKDESK} }}

[[routes]]
sources = ["freepbx"]
sinks = ["qolio", "usedesk", "okdesk"]

[[routes]]
sources = ["pbx"]
sinks = ["okdesk"]
calls = "missed"
"""

    def drop(self, name: str, sidecar: str | None = None) -> Path:
        """Put a recording (and its sidecar) into the folder whole, written when the call
        ended: 12 s of the sample call after the time its name gives."""
        target = self.inbox / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if sidecar is not None:
            target.with_suffix(".json").write_text(sidecar, encoding="utf-8")
        audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
        staged = self.staging / target.name
        sf.write(staged, audio[: SECONDS * rate], rate, subtype="PCM_16")
        stamp = re.search(r"-(\d{8}-\d{6})-", name)
        assert stamp is not None
        started = datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S")
        ended_ns = int(started.replace(tzinfo=ZoneInfo(PBX_ZONE)).timestamp() + SECONDS) * 10**9
        os.utime(staged, ns=(ended_ns, ended_ns))
        staged.replace(target)
        return target

    def external_id(self, recording: Path) -> str:
        """The call's id at its source: the recording's identity."""
        info = recording.stat()
        relative = recording.relative_to(self.inbox).as_posix()
        return f"{relative}@{info.st_size}:{info.st_mtime_ns}"

    def call_id(self, external_id: str) -> int:
        ((call_id,),) = query(self.state, "SELECT id FROM calls WHERE external_id = ?", external_id)
        return int(call_id)

    def delivered(self, external_id: str) -> bool:
        return delivered(self.state, external_id, PLATFORMS)


def qolio_uid(external_id: str) -> str:
    """A folder call's id holds its path: Qolio gets a digest of it."""
    uid = platform_id(f"freepbx-{external_id}", MAX_UID_CHARS)
    assert "/" not in uid
    return uid


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("freepbx-helpdesks"), model_dir)
    with world.qolio, world.usedesk, world.okdesk, running(world.daemon):
        yield world


def test_a_dropped_freepbx_recording_reaches_each_platform_once_in_its_format(
    world: World,
) -> None:
    client = world.usedesk.add_client("79161234567")
    ticket = world.usedesk.add_ticket(client, status=1)
    contact = world.okdesk.add_contact("Анна", "Смирнова", "+79161234567")
    # FreePBX's inbound-route name has no extension: who answered comes in a sidecar.
    sidecar = '{"operator": {"id": "101", "name": "Иван Петров"}}'
    recording = world.drop(ANSWERED, sidecar)
    external_id = world.external_id(recording)
    uid = qolio_uid(external_id)
    wait_for(
        lambda: world.delivered(external_id),
        180,
        f"three deliveries (log: {world.daemon.log})",
    )

    assert [p["uid"] for p in world.qolio.posts()].count(uid) == 1
    card = world.qolio.calls[uid]
    link = card.pop("media_url")
    transcription = card.pop("transcription")
    assert card == {
        "uid": uid,
        "operator_id": IVAN_QOLIO,
        "direction": "incoming",
        "duration": SECONDS,
        "started_at": "2026-12-04T10:15:00+05:00",  # the name's time, in the PBX's zone
        "client_phone_number": "79161234567",
        "custom_fields": {"line": "74951234567", "uniqueid": "1733300100.12"},
    }
    assert_heard_as_said(TRUTH, segments=_segments(transcription))

    assert [t["id"] for t in world.usedesk.tickets.values() if t["client_id"] == client] == [ticket]
    (comment,) = world.usedesk.comments(ticket)
    assert comment["type"] == "private"
    head, dialogue = _comment(comment["message"])
    escaped = html.escape(link)
    assert head == [
        "Расшифровка звонка",
        "Тип: входящий звонок",
        "Статус: успех",
        "Номер клиента: 79161234567",
        "ID оператора: 101",
        "Начало: 04.12.2026 08:15:00",  # Moscow time
        "Завершение: 04.12.2026 08:15:12",
        "Оператор: Иван Петров",
        "Продолжительность: 00:00:12",
        f'Запись разговора: <a href="{escaped}">{escaped}</a>',
    ]
    assert_heard_as_said(TRUTH, dialogue=dialogue)

    (issue,) = [i for i in world.okdesk.issues.values() if i.get("contact_id") == contact]
    assert (issue["title"], issue["assignee_id"]) == ("Звонок 79161234567", IVAN_OKDESK)
    assert "Начало: 04.12.2026 08:15:00" in issue["description"].split("<br>")
    assert f'<a href="{escaped}">' in issue["description"]
    (okdesk_comment,) = issue["comments"]
    assert (okdesk_comment["author_id"], okdesk_comment["public"]) == (IVAN_OKDESK, False)
    okdesk_head, okdesk_dialogue = _comment(okdesk_comment["content"])
    assert okdesk_head == ["Расшифровка звонка"]  # the issue itself describes the call
    assert_heard_as_said(TRUTH, dialogue=okdesk_dialogue)

    call_id = world.call_id(external_id)
    assert link.startswith(f"{world.daemon.url}/recordings/{call_id}/call-{call_id}.wav?")
    played = httpx.get(link, timeout=30)
    assert (played.status_code, played.headers["content-type"]) == (200, "audio/wav")
    assert played.content == recording.read_bytes()
    seek = httpx.get(link, headers={"Range": "bytes=44-1043"}, timeout=30)
    assert (seek.status_code, seek.content) == (206, recording.read_bytes()[44:1044])
    assert httpx.get(link.replace("sig=", "sig=A"), timeout=30).status_code == 404
    assert link.split("?")[1] not in world.daemon.log.read_text("utf-8")


def test_a_missed_call_from_the_pbx_webhook_is_an_okdesk_issue(world: World) -> None:
    call = {
        "id": "1733301000.20",
        "direction": "inbound",
        "started_at": "2026-12-04T10:30:00+05:00",
        "ended_at": "2026-12-04T10:30:25+05:00",
        "client_number": "+79160000001",
        "line_number": "74951234567",
    }
    answer = httpx.post(
        f"{world.daemon.url}/hooks/pbx",
        json=call,
        headers={"authorization": f"Bearer {SOURCE_TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    wait_for(lambda: delivered(world.state, call["id"], {"okdesk"}), 60, "the missed-call issue")

    (issue,) = [i for i in world.okdesk.issues.values() if "79160000001" in i["title"]]
    assert issue["title"] == "Пропущенный звонок +79160000001"
    assert issue["comments"] == []
    assert issue["description"].split("<br>") == [
        "Тип: входящий звонок",
        "Статус: не успех",
        "Номер клиента: +79160000001",
        "Начало: 04.12.2026 08:30:00",
        "Завершение: 04.12.2026 08:30:25",
        "Продолжительность: 00:00:25",
    ]
    (contact,) = [c for c in world.okdesk.contacts.values() if c["phone"] == "+79160000001"]
    assert issue["contact_id"] == contact["id"]  # a new number gets a contact card
    assert not any(p["uid"].startswith("pbx-") for p in world.qolio.posts())


def test_a_kill_9_while_the_platforms_hold_their_answers_leaves_one_card_each(
    world: World,
) -> None:
    world.qolio.hold_after("POST", "/api/v1/integrations/")
    world.usedesk.hold_after("POST", "/create/ticket$")  # a new client: a new ticket
    world.okdesk.hold_after("POST", r"/api/v1/issues/\d+/comments")
    recording = world.drop(CRASHED)  # an outbound route's name: the extension is in it
    external_id = world.external_id(recording)
    uid = qolio_uid(external_id)
    platforms = (world.qolio, world.usedesk, world.okdesk)
    kill_while_held(world.daemon, platforms)
    release_and_restart(world.daemon, platforms)
    wait_for(
        lambda: world.delivered(external_id),
        180,
        f"the deliveries after the restart (log: {world.daemon.log})",
    )

    assert [p["uid"] for p in world.qolio.posts()].count(uid) == 2  # the same uid again
    card = world.qolio.calls[uid]  # one card, updated
    assert (card["operator_id"], card["direction"]) == (IVAN_QOLIO, "outcoming")
    assert (card["started_at"], card["client_phone_number"]) == (
        "2026-12-04T11:15:00+05:00",
        "79167654321",
    )
    assert_heard_as_said(TRUTH, segments=_segments(card["transcription"]))

    (client,) = [c["id"] for c in world.usedesk.clients.values() if c["phone"] == "79167654321"]
    (ticket,) = [t for t in world.usedesk.tickets.values() if t["client_id"] == client]
    assert (ticket["subject"], ticket["assignee_id"]) == ("Звонок 79167654321", IVAN_USEDESK)
    (comment,) = ticket["comments"]  # the ticket's first message: no second copy
    assert comment["type"] == "private"
    head, dialogue = _comment(comment["message"])
    assert head[:5] == [
        "Расшифровка звонка",
        "Тип: исходящий звонок",
        "Статус: успех",
        "Номер клиента: 79167654321",
        "ID оператора: 101",
    ]
    assert "Начало: 04.12.2026 09:15:00" in head
    assert_heard_as_said(TRUTH, dialogue=dialogue)
    created = [r.json() for r in world.usedesk.requests("POST", "/create/ticket")]
    assert [c.get("client_phone") for c in created].count("79167654321") == 1
    asked = [r.json()["ticket_id"] for r in world.usedesk.requests("POST", "/ticket$")]
    assert ticket["id"] in asked  # found by its first part's marker after the restart

    (contact,) = [c for c in world.okdesk.contacts.values() if c["phone"] == "+79167654321"]
    (issue,) = [i for i in world.okdesk.issues.values() if i.get("contact_id") == contact["id"]]
    assert issue["title"] == "Звонок 79167654321"
    (okdesk_comment,) = issue["comments"]
    assert_heard_as_said(TRUTH, dialogue=_comment(okdesk_comment["content"])[1])
    assert world.okdesk.requests("GET", rf"/api/v1/issues/{issue['id']}/comments")

    played = httpx.get(card["media_url"], timeout=30)  # the link outlives the restart
    assert (played.status_code, played.content) == (200, recording.read_bytes())


def _segments(transcription: list[dict[str, Any]]) -> list[Segment]:
    return [
        Segment(Speaker(part["role"]), part["start_time"], part["end_time"], part["text"], 0, 0)
        for part in transcription
    ]


def _comment(message: str) -> tuple[list[str], str]:
    """A comment's lines before the dialogue (as sent, HTML), and the dialogue as text."""
    lines = message.split("<br>")
    first = next(n for n, line in enumerate(lines) if DIALOGUE_LINE.match(line))
    head = lines[:first]
    while head and not head[-1]:
        head.pop()
    dialogue = [html.unescape(line) for line in lines[first:] if DIALOGUE_LINE.match(line)]
    return head, "\n".join(dialogue)
