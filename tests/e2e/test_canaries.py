"""Secrets and phone numbers end to end (reliability.md R-SEC-2, R-PII-3): every secret a
configuration can hold is a unique canary, every caller a canary phone number, and one
daemon at debug level goes through the happy paths and every error path: refused tokens
and signatures at each webhook source, bodies refused after a good token, 5xx, 429 and
4xx from every platform, downloads that 404, a recording URL refused by the SSRF guard,
an AMI login refused, `callscribe backfill` against APIs that fail first.

Then the canaries are looked for where they must not be:

- the daemon's log (stdout and stderr, debug level) and the CLI commands' output: no
  secret, no full phone number;
- the database (with its WAL) and every file of the state folder: no secret;
- what each stand-in received, byte for byte through a wiretap (tests/wiretap.py): no
  secret but the platform's own, and that one only where the platform reads it (its
  header, query parameter, body field or AMI line); no phone number at a source's API or
  file server, which have no use for one.

Four recorded calls go through the model (generic, UIS, Mango, Calltouch).
"""

from __future__ import annotations

import io
import re
import secrets
import sqlite3
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, wait_for
from tests.samples import SAMPLES
from tests.standins import calltouch as ct
from tests.standins import uis
from tests.standins.asterisk import AmiServer
from tests.standins.mango import MangoStandIn, record_added, signed_form, summary
from tests.standins.mindbox import MindboxServer
from tests.standins.mindbox import sink_config as mindbox_sink
from tests.standins.okdesk import OkdeskStandIn
from tests.standins.qolio import QolioStandIn
from tests.standins.tqm import PATH as TQM_PATH
from tests.standins.tqm import TqmServer
from tests.standins.usedesk import UsedeskStandIn
from tests.wiretap import Wiretap

pytestmark = pytest.mark.slow


def canary(name: str) -> str:
    """A secret no code would ever produce by chance, in URL-safe characters."""
    return f"CANARY{name.replace('_', '')}{secrets.token_hex(12)}"


NAMES = [
    "generic",
    "uis_token",
    "uis_api",
    "ct_token",
    "ct_api",
    "mango_key",
    "mango_salt",
    "ami",
    "link",
    "qolio",
    "usedesk",
    "okdesk",
    "tqm",
    "http",
    "hook",
]
SECRETS = {name: canary(name) for name in NAMES}
# Callers, each a number no other test uses; the log may show at most their last four.
PHONES = [f"+7999{n:07d}" for n in range(4_000_101, 4_000_111)]
SITE = "77001"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-10:]


def found_phones(text: str) -> list[str]:
    """Canary numbers written in full, in any spacing or punctuation (7, 8 or +7 in front)."""
    hits = []
    for phone in PHONES:
        core = r"[\s\-()]*".join(digits(phone))
        if re.search(rf"(?<!\d)(?:\+?[78][\s\-()]*)?{core}(?!\d)", text):
            hits.append(phone)
    return hits


def excerpt() -> bytes:
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    out = io.BytesIO()
    sf.write(out, audio[: 12 * rate], rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@dataclass
class Tap:
    """A stand-in behind a wiretap, and where its own secret may appear on the wire."""

    name: str
    wire: Wiretap
    allowed: str | None = None  # a regular expression matching the secret's one place
    secret: str | None = None
    needs_phones: bool = False

    def check(self) -> list[str]:
        sent = self.wire.sent().decode("utf-8", "replace")
        problems = []
        if self.allowed is not None:
            places = len(re.findall(self.allowed, sent))
            if self.secret is not None and places == 0 and self.secret in sent:
                problems.append(f"{self.name}: its secret, but not where it belongs")
            sent = re.sub(self.allowed, "<its secret>", sent)
        problems += [f"{self.name}: {name}" for name, value in SECRETS.items() if value in sent]
        if not self.needs_phones:
            problems += [f"{self.name}: phone {p}" for p in found_phones(sent)]
        return problems


class World:
    """The stand-ins behind their wiretaps, and the daemon."""

    def __init__(self, tmp: Path, stack: ExitStack) -> None:
        self.tmp = tmp
        self.stack = stack
        self.taps: list[Tap] = []
        self.wires: dict[str, Wiretap] = {}

    def tap(self, key: str, name: str, port: int, allowed: str | None = None,
            secret: str | None = None, *, needs_phones: bool = False) -> None:  # fmt: skip
        wire = self.stack.enter_context(Wiretap(port))
        self.taps.append(Tap(name, wire, allowed, secret, needs_phones))
        self.wires[key] = wire


def configuration(world: World, port: int, wires: dict[str, Wiretap], s: dict[str, str]) -> str:
    state = world.tmp / "state"
    loopback = lambda *names: ", ".join(str(wires[n].port) for n in names)  # noqa: E731
    return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1
public_url = "https://calls.example.com"
link_secret = "{s["link"]}"

[retry]
fetch = [1, 1]
transcribe = [1]
delivery = [1, 1]
jitter = 0.0

[sources.pbx]
type = "generic"
token = "{s["generic"]}"
allow_http = true
loopback_ports = [{loopback("files")}]
share_recording_urls = false

[sources.uis]
type = "uis"
token = "{s["uis_token"]}"
recording_hosts = ["127.0.0.1"]
allow_http = true
loopback_ports = [{loopback("uis media")}]
recording_wait_seconds = 60
api_url = "{wires["uis api"].url}/v2.0"
api_token = "{s["uis_api"]}"
api_interval_seconds = 0

[sources.ct]
type = "calltouch"
token = "{s["ct_token"]}"
site_id = "{SITE}"
client_api_id = "{s["ct_api"]}"
api_url = "{wires["calltouch api"].url}"
allow_http = true
loopback_ports = [{loopback("calltouch api")}]
allowed_ips = ["127.0.0.0/8"]
api_interval_seconds = 0

[sources.mango]
type = "mango"
api_key = "{s["mango_key"]}"
api_salt = "{s["mango_salt"]}"
api_url = "{wires["mango"].url}/vpbx/"
allow_http = true
loopback_ports = [{loopback("mango")}]
more_recordings_seconds = 0
invalid_request_pause_seconds = 1

[sources.ami]
type = "asterisk"
port = {wires["ami"].port}
username = "callscribe"
secret = "{s["ami"]}"
recordings = ["{world.tmp / "spool"}"]
ping_seconds = 1
ping_timeout_seconds = 3
reconnect_min_seconds = 0.2
reconnect_max_seconds = 1

[sinks.qolio]
type = "qolio"
url = "{wires["qolio"].url}/api/v1/integrations/4f1c-int"
token = "{s["qolio"]}"
operators = {{ "101" = "ivan@example.com" }}

[sinks.usedesk]
type = "usedesk"
url = "{wires["usedesk"].url}"
api_token = "{s["usedesk"]}"

[sinks.okdesk]
type = "okdesk"
url = "{wires["okdesk"].url}"
api_token = "{s["okdesk"]}"
employees = {{ "101" = 12 }}

[sinks.tqm]
type = "tqm"
url = "{wires["tqm"].url}{TQM_PATH}"
access_key = "{s["tqm"]}"

{mindbox_sink("mindbox", wires["mindbox"].url, s["http"])}
[sinks.hook]
type = "webhook"
url = "{wires["hook"].url}/calls"
token = "{s["hook"]}"

[sinks.archive]
type = "jsonl"
path = "{state / "archive.jsonl"}"

[[routes]]
sources = ["pbx"]
sinks = ["qolio", "usedesk", "okdesk", "tqm", "mindbox", "hook", "archive"]
calls = "all"

[[routes]]
sources = ["uis", "ct", "mango", "ami"]
sinks = ["hook", "archive"]
calls = "all"
"""


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callscribe", "-vv", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_no_secret_and_no_full_number_where_it_does_not_belong(
    tmp_path: Path, model_dir: Path
) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "served").mkdir()
    audio = excerpt()
    (tmp_path / "served" / "call.wav").write_bytes(audio)
    s, q = SECRETS, re.escape
    with ExitStack() as stack:
        world = World(tmp_path, stack)
        enter = stack.enter_context
        files = enter(FileServer(tmp_path / "served"))
        media = enter(uis.Media({"/talk/7001/": audio}, missing_first=1))
        past_uis = [uis.Call(7101, "2026-11-20 09:00:00", is_lost=True)]
        uis_api = enter(uis.DataApi(s["uis_api"], past_uis, limit_errors=1))
        past_ct = [ct.record(6101, "20/11/2026 09:00:00", successful=False,
                             callerNumber=digits(PHONES[9]))]  # fmt: skip
        ct_api = enter(ct.Api(SITE, s["ct_api"], past_ct, {"6001": audio}, missing_first=1,
                              throttle_first=1))  # fmt: skip
        mango = enter(MangoStandIn(s["mango_key"], s["mango_salt"], not_ready_first=1))
        mango.recordings["REC-1"] = audio
        ami = enter(AmiServer(secret=s["ami"]))
        qolio = enter(QolioStandIn(s["qolio"], operators={"ivan@example.com"}))
        usedesk = enter(UsedeskStandIn(s["usedesk"]))
        okdesk = enter(OkdeskStandIn(s["okdesk"], employees={12}))
        tqm = enter(TqmServer(s["tqm"], answers=[500]))
        mindbox = enter(MindboxServer(s["http"], "Example.Website"))
        hook = enter(SinkServer(answers=[500]))
        # fmt: off
        world.tap("files", "file server", files.port)
        world.tap("uis media", "uis media", media.port)
        world.tap("uis api", "uis api", uis_api.port,
                  rf'"access_token": ?"{q(s["uis_api"])}"', s["uis_api"])
        world.tap("calltouch api", "calltouch api", ct_api.port,
                  rf"clientApiId={q(s['ct_api'])}", s["ct_api"])
        world.tap("mango", "mango api", mango.port,
                  rf"vpbx_api_key={q(s['mango_key'])}", s["mango_key"])
        # The AMI secret goes nowhere: the login answers an MD5 challenge with it.
        world.tap("ami", "ami", ami.port)
        world.tap("qolio", "qolio", qolio.port,
                  rf"(?i)authorization: {q(s['qolio'])}\r\n", s["qolio"], needs_phones=True)
        world.tap("usedesk", "usedesk", usedesk.port,
                  rf'("api_token": ?"|api_token=){q(s["usedesk"])}', s["usedesk"],
                  needs_phones=True)
        world.tap("okdesk", "okdesk", okdesk.port, rf"api_token={q(s['okdesk'])}", s["okdesk"],
                  needs_phones=True)
        world.tap("tqm", "tqm", tqm.port, rf"(?i)authorization: Basic {q(s['tqm'])}\r\n",
                  s["tqm"], needs_phones=True)
        world.tap("mindbox", "mindbox", mindbox.port,
                  rf'(?i)authorization: Mindbox secretKey="{q(s["http"])}"\r\n', s["http"],
                  needs_phones=True)
        world.tap("hook", "webhook sink", hook.port,
                  rf"(?i)authorization: Bearer {q(s['hook'])}\r\n", s["hook"], needs_phones=True)
        # fmt: on
        mango.link_base = world.wires["mango"].url  # single-use links through the tap too
        misbehave(qolio, usedesk, okdesk)
        port = free_port()
        config = tmp_path / "c.toml"
        config.write_text(configuration(world, port, world.wires, s), "utf-8")
        daemon = Daemon(config, port, model_dir, tmp_path / "daemon.log", options=["-vv"])
        daemon.start(timeout=300)
        try:
            drive(daemon, world)
            # AMI: logged in with its secret, then a login refused after a dropped link.
            ami.wait_logins(1)
            ami.refuse_login = True
            ami.drop()
            wait_for(lambda: ami.refused > 0, 60, "a refused AMI login")
            outputs = [run_cli(config, "backfill", "--source", name, "--since", "2026-11-20",
                               "--until", "2026-11-20") for name in ("uis", "ct")]  # fmt: skip
            wait_for(lambda: _settled(tmp_path / "state" / "callscribe.db", 11), 300,
                     f"every call and delivery to end (log: {daemon.log})")  # fmt: skip
            outputs += [
                run_cli(config, *command)
                for command in (
                    ["config", "show"],
                    ["config", "validate"],
                    ["calls"],
                    ["deliveries"],
                )
            ]
            shown = run_cli(config, "calls", "show", "1", "--format", "json")
        finally:
            assert daemon.stop() == 0
        problems = [p for tap in world.taps for p in tap.check()]

    log = daemon.log.read_text("utf-8")
    cli = "\n".join(o.stdout + o.stderr for o in outputs)
    assert all(o.returncode in (0, 1) for o in outputs), cli
    problems += [f"log: {name}" for name, value in SECRETS.items() if value in log]
    problems += [f"log: phone {p}" for p in found_phones(log)]
    problems += [f"cli: {name}" for name, value in SECRETS.items() if value in cli + shown.stdout]
    problems += [f"cli: phone {p}" for p in found_phones(cli)]
    for path in sorted((tmp_path / "state").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            problems += [f"{path.name}: {n}" for n, v in SECRETS.items() if v.encode() in data]
    assert problems == []
    # The checks looked where the canaries were: each secret did reach its own platform.
    for tap in world.taps:
        if tap.secret is not None:
            assert tap.secret in tap.wire.sent().decode("utf-8", "replace"), tap.name
    assert b"Action: Login" in world.wires["ami"].sent()
    # ... and the phone search finds numbers where platforms were sent them.
    hooked = found_phones(world.wires["hook"].sent().decode("utf-8", "replace"))
    assert hooked == [PHONES[i] for i in (0, 1, 4, 5, 6, 7, 8, 9)]  # not the failed fetches
    delivered = _delivered(tmp_path / "state" / "callscribe.db", "canary-1")
    assert delivered == {"qolio", "usedesk", "okdesk", "tqm", "mindbox", "hook", "archive"}
    print(
        f"\ncanaries: {len(SECRETS)} secrets, {len(PHONES)} numbers; {len(log.splitlines())} "
        f"log lines; {sum(len(t.wire.sent()) for t in world.taps)} bytes to {len(world.taps)} "
        "stand-ins; hits: 0"
    )
    assert "DEBUG" in log  # the run was at debug level


def misbehave(qolio: QolioStandIn, usedesk: UsedeskStandIn, okdesk: OkdeskStandIn) -> None:
    """The helpdesks fail now and then, the way their real ones do."""
    qolio.fail_next(500, path="/api/v1/integrations/")
    qolio.fail_next(429, path="/api/v1/integrations/", retry_after="1")
    usedesk.fail_next(503, path="/")
    okdesk.fail_next(500, method="GET", path="/api/v1/")
    okdesk.fail_next(401, method="POST", path="/api/v1/issues", body={"errors": "denied"})


def drive(daemon: Daemon, world: World) -> None:
    """Every kind of call and refusal, each caller a canary number."""
    s, url = SECRETS, daemon.url
    files, uis_media = world.wires["files"].url, world.wires["uis media"].url
    bearer = {"authorization": f"Bearer {s['generic']}"}
    with httpx.Client(timeout=30) as client:

        def generic(body: dict[str, Any], headers: dict[str, str] = bearer) -> int:
            return client.post(f"{url}/hooks/pbx", json=body, headers=headers).status_code

        def uis_post(event: str, values: dict[str, Any], token: str = s["uis_token"]) -> int:
            body = uis.fill(uis.template(event).body(token), values)
            return client.post(f"{url}/hooks/uis", content=body).status_code

        def mango_post(event: str, payload: dict[str, Any], salt: str = s["mango_salt"]) -> int:
            form = signed_form(s["mango_key"], salt, payload)
            return client.post(f"{url}/hooks/mango/events/{event}", content=form,
                               headers=FORM).status_code  # fmt: skip

        def calltouch(params: dict[str, Any], token: str = s["ct_token"]) -> int:
            return client.get(f"{url}/hooks/ct/{token}", params=ct.as_params(params)).status_code

        call = {"direction": "inbound", "started_at": "2026-11-21T10:00:00+03:00",
                "operator": {"id": "101", "name": "Иван"}}  # fmt: skip
        # Refused at the door, and refused after it: the reasons must not echo secrets.
        assert generic({"id": "x"}, {"authorization": "Bearer wrong-token-0123456789"}) == 401
        assert generic({"id": "x", "client_number": PHONES[0], "secret": s["generic"]}) == 400
        assert uis_post("lost_call", {"call_session_id": 1}, token="x" * 40) == 401
        assert (
            client.post(f"{url}/hooks/uis/{s['uis_token']}", content=b"{not json").status_code
            == 400
        )
        assert calltouch({"callId": "1"}, token="y" * 40) == 401
        assert calltouch({"callId": "bad id!", "callerNumber": PHONES[0]}) == 400
        assert mango_post("summary", summary("E-X"), salt="wrong-salt") == 401
        # Calls: recorded, missed, a recording that is not there, a URL the guard refuses.
        assert generic({**call, "id": "canary-1", "client_number": PHONES[0],
                        "answered_at": "2026-11-21T10:00:05+03:00",
                        "recording_url": f"{files}/call.wav"}) == 200  # fmt: skip
        assert generic({**call, "id": "canary-2", "client_number": PHONES[1]}) == 200
        assert generic({**call, "id": "canary-3", "client_number": PHONES[2],
                        "recording_url": f"{files}/gone.wav"}) == 200  # fmt: skip
        assert generic({**call, "id": "canary-4", "client_number": PHONES[3],
                        "recording_url": "http://169.254.169.254/latest/x.wav"}) == 200  # fmt: skip
        end = uis.call_end_values(7001, contact_phone_number=digits(PHONES[4]))
        assert uis_post("call_end", end) == 200
        talk = {"call_session_id": 7001, "file_link": f"{uis_media}/talk/7001/"}
        assert uis_post("recorded_talk", talk) == 200
        lost = {"call_session_id": 7002, "direction": "in", "contact_phone_number": PHONES[5]}
        assert uis_post("lost_call", lost) == 200
        assert mango_post("summary", summary("E-1", client=digits(PHONES[6]))) == 200
        assert mango_post("record/added", record_added("E-1", "REC-1")) == 200
        recorded = ct.record(6001, "21/11/2026 10:00:00", callerNumber=digits(PHONES[7]))
        assert calltouch(recorded) == 200
        missed = ct.record(6002, "21/11/2026 11:00:00", successful=False,
                           callerNumber=digits(PHONES[8]))  # fmt: skip
        assert calltouch(missed) == 200


def _settled(database: Path, calls: int) -> bool:
    """All ``calls`` stored, each finished, and no job or delivery left to run."""
    with sqlite3.connect(database, timeout=10) as db:
        (stored,) = db.execute("SELECT count(*) FROM calls").fetchone()
        (open_calls,) = db.execute(
            "SELECT count(*) FROM calls WHERE state NOT IN ('done', 'failed')"
        ).fetchone()
        (open_jobs,) = db.execute(
            "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
    return stored >= calls and open_calls == 0 and open_jobs == 0


def _delivered(database: Path, external_id: str) -> set[str]:
    with sqlite3.connect(database, timeout=10) as db:
        rows = db.execute(
            "SELECT d.sink FROM deliveries d JOIN calls c ON c.id = d.call_id"
            " WHERE c.external_id = ? AND d.state = 'delivered'",
            (external_id,),
        )
        return {sink for (sink,) in rows}
