"""Crash runs (reliability.md R-Q-1, R-WH-6, R-OUT-3): kill -9 at chosen points of the
daemon's life, with the platforms' stand-ins, until nothing acknowledged can hide.

Each run starts the daemon with one fault armed (``callscribe/faults.py``): SIGKILL the
n-th time it stores a webhook but before answering it, stores one notification of a
joined call (UIS, Mango), is about to COMMIT any transaction, has written a recording's
first bytes, is recognising (a moment later), or has heard a platform's 2xx but not
committed the delivery; or, the seventh kind, at a random moment with nothing armed.
Meanwhile :class:`Traffic` posts calls like a vendor: generic webhooks, UIS call-end and
recorded-talk pairs, Mango summary and record/added pairs, each notification retried until
it gets a 2xx (across runs, as vendors retry).  A run ends when the daemon dies, or after
``RUN_SECONDS`` it is killed from outside.

Then one last daemon with nothing armed: the traffic's unanswered notifications are
posted again, every call is let finish, and :func:`verify` counts: acknowledged calls
missing from the database (0), jobs or calls not finished (0), and per platform the remote
items per call: where the platform lets us tell (webhook tickets by idempotency key,
Qolio by uid, Usedesk comments on the call's ticket, Okdesk issues and comments, the JSONL
archive) a second one is a duplicate (0); where it does not (TQM imports, Mindbox
requests) the extra posts are counted and reported.
"""

from __future__ import annotations

import io
import json
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, wait_for
from tests.samples import SAMPLES
from tests.standins import uis
from tests.standins.mango import MangoStandIn, record_added, signed_form, summary
from tests.standins.mindbox import MindboxServer
from tests.standins.mindbox import sink_config as mindbox_sink
from tests.standins.okdesk import OkdeskStandIn
from tests.standins.qolio import QolioStandIn
from tests.standins.tqm import PATH as TQM_PATH
from tests.standins.tqm import TqmServer
from tests.standins.usedesk import UsedeskStandIn

TOKEN = "chaos-token-0123456789abcdefghijklmnopqrstuv"
MANGO_KEY, MANGO_SALT = "chaos-mango-key", "chaos-mango-salt"
KINDS = ("webhook.stored", "part.stored", "store.commit", "fetch.body", "transcribe",
         "deliver.done", "random")  # fmt: skip
RUN_SECONDS = 15.0
SINKS = ("hook", "qolio", "usedesk", "okdesk", "tqm", "mindbox", "archive")


def fault_for(kind: str, rng: random.Random) -> tuple[str | None, float]:
    """The CALLSCRIBE_FAULT of one run (None: a random moment), and when to kill from
    outside if the daemon is still alive."""
    if kind == "random":
        return None, rng.uniform(0.3, 6.0)
    nth = {"webhook.stored": (1, 8), "part.stored": (1, 4), "store.commit": (1, 80),
           "fetch.body": (1, 4), "transcribe": (1, 2), "deliver.done": (1, 10)}[kind]  # fmt: skip
    delay = f"@{rng.uniform(0.0, 0.3):.2f}" if kind == "transcribe" else ""
    return f"{kind}:{rng.randint(*nth)}:kill{delay}", RUN_SECONDS


def clip(seconds: float = 5.0) -> bytes:
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    out = io.BytesIO()
    sf.write(out, audio[: int(seconds * rate)], rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@dataclass
class Notification:
    path: str  # after /hooks/
    body: bytes
    headers: dict[str, str]
    acked: bool = False


@dataclass
class Call:
    source: str
    external_id: str
    phone: str
    notifications: list[Notification] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return all(n.acked for n in self.notifications)


class Platforms:
    """The stand-ins callscribe talks to, and the recordings it fetches."""

    def __init__(self, stack: ExitStack, tmp: Path) -> None:
        self.audio = clip()
        (tmp / "served").mkdir()
        (tmp / "served" / "call.wav").write_bytes(self.audio)
        enter = stack.enter_context
        self.files = enter(FileServer(tmp / "served"))
        self.media = enter(uis.Media({}))
        self.mango = enter(MangoStandIn(MANGO_KEY, MANGO_SALT, max_per_second=1000))
        self.hook = enter(SinkServer())
        self.qolio = enter(QolioStandIn("chaos-qolio", operators={"ivan@example.com"}))
        self.usedesk = enter(UsedeskStandIn("chaos-usedesk"))
        self.okdesk = enter(OkdeskStandIn("chaos-okdesk", employees={12}))
        self.tqm = enter(TqmServer("chaos-tqm"))
        self.mindbox = enter(MindboxServer("chaos-mindbox", "Example.Website"))
        self.tickets: dict[str, int] = {}  # Usedesk ticket per generic call

    def config(self, state: Path, port: int) -> str:
        return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1
max_stalls = 1000
stop_timeout_seconds = 20

[retry]
fetch = [1, 1, 2, 2, 5]
transcribe = [1, 1, 1]
delivery = [1, 1, 2, 2, 5]
jitter = 0.0

[sources.pbx]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{self.files.port}]

[sources.uis]
type = "uis"
token = "{TOKEN}"
recording_hosts = ["127.0.0.1"]
allow_http = true
loopback_ports = [{self.media.port}]
recording_wait_seconds = 120

[sources.mango]
type = "mango"
api_key = "{MANGO_KEY}"
api_salt = "{MANGO_SALT}"
api_url = "{self.mango.api_url}"
allow_http = true
loopback_ports = [{self.mango.port}]
more_recordings_seconds = 0
recording_wait_seconds = 120
invalid_request_pause_seconds = 1

[sinks.hook]
type = "webhook"
url = "{self.hook.url}/calls"

[sinks.qolio]
type = "qolio"
url = "{self.qolio.integration_url}"
token = "chaos-qolio"
operators = {{ "101" = "ivan@example.com" }}

[sinks.usedesk]
type = "usedesk"
url = "{self.usedesk.url}"
api_token = "chaos-usedesk"

[sinks.okdesk]
type = "okdesk"
url = "{self.okdesk.url}"
api_token = "chaos-okdesk"
employees = {{ "101" = 12 }}

[sinks.tqm]
type = "tqm"
url = "{self.tqm.url}{TQM_PATH}"
access_key = "chaos-tqm"

{mindbox_sink("mindbox", self.mindbox.url, "chaos-mindbox")}
[sinks.archive]
type = "jsonl"
path = "{state / "archive.jsonl"}"

[[routes]]
sources = ["pbx"]
sinks = ["hook", "qolio", "usedesk", "okdesk", "tqm", "mindbox", "archive"]

[[routes]]
sources = ["uis", "mango"]
sinks = ["hook", "archive"]
"""


class Traffic:
    """Posts calls round the three sources like their vendors: each notification again
    until it is answered 2xx."""

    def __init__(self, platforms: Platforms, rng: random.Random) -> None:
        self.platforms = platforms
        self.rng = rng
        self.calls: list[Call] = []
        self.url = ""
        self.halt = threading.Event()

    @contextmanager
    def running(self, url: str) -> Iterator[None]:
        """Post from a thread while the daemon at ``url`` lives."""
        self.url = url
        self.halt.clear()
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.halt.set()
            thread.join(30)

    def make(self) -> Call:
        n = len(self.calls)
        source = ("pbx", "uis", "mango")[n % 3]
        phone = f"+7999{5_000_000 + n:07d}"
        call = Call(source, "", phone)
        if source == "pbx":
            call.external_id = f"chaos-{n}"
            client = self.platforms.usedesk.add_client(phone[1:])
            self.platforms.tickets[call.external_id] = self.platforms.usedesk.add_ticket(client, 1)
            body = {"id": call.external_id, "direction": "inbound", "client_number": phone,
                    "started_at": "2026-11-21T10:00:00+03:00",
                    "answered_at": "2026-11-21T10:00:02+03:00",
                    "ended_at": "2026-11-21T10:00:07+03:00",
                    "operator": {"id": "101"},
                    "recording_url": f"{self.platforms.files.url}/call.wav"}  # fmt: skip
            call.notifications = [Notification("pbx", json.dumps(body).encode(),
                                               {"authorization": f"Bearer {TOKEN}"})]  # fmt: skip
        elif source == "uis":
            session = 90_000 + n
            call.external_id = str(session)
            talk = f"/talk/{session}/"
            self.platforms.media.files[talk] = self.platforms.audio
            end = uis.call_end_values(session, contact_phone_number=phone[1:])
            recorded = {"call_session_id": session, "file_link": self.platforms.media.url + talk}
            call.notifications = [
                Notification("uis", uis.fill(uis.template(event).body(TOKEN), values), {})
                for event, values in (("call_end", end), ("recorded_talk", recorded))
            ]
        else:
            call.external_id = f"M-{n}"
            self.platforms.mango.recordings[f"R-{n}"] = self.platforms.audio
            form = {"content-type": "application/x-www-form-urlencoded"}
            call.notifications = [
                Notification(f"mango/events/{event}", signed_form(MANGO_KEY, MANGO_SALT, payload),
                             form)
                for event, payload in (("summary", summary(call.external_id, client=phone[1:])),
                                       ("record/added", record_added(call.external_id, f"R-{n}")))
            ]  # fmt: skip
        self.calls.append(call)
        return call

    def pending(self) -> Iterator[Notification]:
        for call in list(self.calls):
            yield from (n for n in call.notifications if not n.acked)

    def post(self, client: httpx.Client, notification: Notification) -> bool:
        try:
            answer = client.post(
                f"{self.url}/hooks/{notification.path}",
                content=notification.body,
                headers=notification.headers,
            )
        except httpx.HTTPError:
            return False  # the daemon died mid-request: not acknowledged, sent again later
        notification.acked = answer.status_code == 200
        return notification.acked

    def _loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                for notification in list(self.pending()):
                    if self.halt.is_set() or not self.post(client, notification):
                        break
                else:
                    for notification in self.make().notifications:
                        if not self.post(client, notification):
                            break
                self.halt.wait(self.rng.uniform(0.05, 0.4))

    def settle(self, url: str, timeout: float = 120.0) -> None:
        """Post every notification still unanswered until it is (the last daemon)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=10) as client:
            self.url = url
            while any(True for _ in self.pending()):
                assert time.monotonic() < deadline, "notifications still refused"
                for notification in list(self.pending()):
                    self.post(client, notification)


@dataclass
class RunResult:
    kind: str
    fault: str | None
    hit: bool
    seconds: float


@dataclass
class Report:
    runs: list[RunResult] = field(default_factory=list)
    calls: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    unfinished_calls: int = 0
    unfinished_jobs: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    extra_posts: dict[str, int] = field(default_factory=dict)
    leftover_part_files: int = 0
    integrity: str = ""

    def by_kind(self) -> dict[str, tuple[int, int]]:
        runs = Counter(r.kind for r in self.runs)
        hits = Counter(r.kind for r in self.runs if r.hit)
        return {kind: (runs[kind], hits[kind]) for kind in KINDS if runs[kind]}

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": len(self.runs),
            "kills by point (runs, point reached)": self.by_kind(),
            "calls": self.calls,
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "unfinished calls": self.unfinished_calls,
            "unfinished jobs": self.unfinished_jobs,
            "duplicates (platforms that can tell)": self.duplicates,
            "extra posts (platforms that cannot tell)": self.extra_posts,
            ".part files left by kills (retention deletes them)": self.leftover_part_files,
            "integrity_check": self.integrity,
        }


def run_chaos(
    tmp: Path,
    model_dir: Path,
    runs: int,
    seed: int,
    *,
    wait_retention: bool = False,
    say: Callable[[str], None] = print,
) -> Report:
    """``runs`` kills, then the last daemon and the counts; ``wait_retention``: also wait
    for retention to delete half-written downloads the kills left (up to 90 s)."""
    rng = random.Random(seed)
    report = Report()
    with ExitStack() as stack:
        platforms = Platforms(stack, tmp)
        state, port = tmp / "state", free_port()
        (tmp / "c.toml").write_text(platforms.config(state, port), "utf-8")
        daemon = Daemon(tmp / "c.toml", port, model_dir, tmp / "daemon.log")
        traffic = Traffic(platforms, rng)
        for number in range(runs):
            kind = KINDS[number % len(KINDS)]
            report.runs.append(one_run(daemon, traffic, kind, rng, tmp / f"fault-{number}.log"))
            last = report.runs[-1]
            how = "point reached" if last.hit else "killed from outside"
            say(f"run {number + 1}/{runs}: {last.fault or kind}: {how} after {last.seconds:.1f} s")
        daemon.env.pop("CALLSCRIBE_FAULT", None)
        daemon.start(timeout=600)
        try:
            traffic.settle(daemon.url)
            wait_for(lambda: _settled(state / "callscribe.db"), 900,
                     f"every call to finish (log: {daemon.log})")  # fmt: skip
            verify(report, traffic, platforms, state, wait_retention)
        finally:
            assert daemon.stop() == 0
    return report


def one_run(
    daemon: Daemon, traffic: Traffic, kind: str, rng: random.Random, log: Path
) -> RunResult:
    fault, kill_after = fault_for(kind, rng)
    if fault is None:
        daemon.env.pop("CALLSCRIBE_FAULT", None)
    else:
        daemon.env |= {"CALLSCRIBE_FAULT": fault, "CALLSCRIBE_FAULT_LOG": str(log)}
    started = time.monotonic()
    try:
        daemon.start(timeout=600)
    except AssertionError:  # killed by its fault while starting: a run too
        if daemon.process is None or daemon.process.poll() != -9:
            raise
    with traffic.running(daemon.url):
        process = daemon.process
        assert process is not None
        while process.poll() is None and time.monotonic() - started < kill_after:
            time.sleep(0.02)
        if process.poll() is None:
            daemon.kill()
        code = process.wait(30)
    seconds = time.monotonic() - started
    hit = False
    if fault is not None and log.exists():
        point, nth = fault.split(":")[:2]
        hit = code == -9 and f"reached {point} {nth}\n" in log.read_text()
    return RunResult(kind, fault, hit, seconds)


def _settled(database: Path) -> bool:
    with sqlite3.connect(database, timeout=10) as db:
        (calls,) = db.execute(
            "SELECT count(*) FROM calls WHERE state NOT IN ('done', 'failed')"
        ).fetchone()
        (jobs,) = db.execute(
            "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(calls) == 0 and int(jobs) == 0


def verify(
    report: Report, traffic: Traffic, platforms: Platforms, state: Path, wait_retention: bool
) -> None:
    database = state / "callscribe.db"
    with sqlite3.connect(database) as db:
        stored = {(s, e) for s, e in db.execute("SELECT source, external_id FROM calls")}
        (report.unfinished_calls,) = db.execute(
            "SELECT count(*) FROM calls WHERE state != 'done'"
        ).fetchone()
        (report.unfinished_jobs,) = db.execute(
            "SELECT count(*) FROM jobs WHERE state != 'done'"
        ).fetchone()
        (report.integrity,) = db.execute("PRAGMA integrity_check").fetchone()
    acked = [c for c in traffic.calls if c.acked]
    report.calls, report.acknowledged = len(traffic.calls), len(acked)
    report.lost = [c.external_id for c in acked if (c.source, c.external_id) not in stored]
    generic = [c.external_id for c in acked if c.source == "pbx"]
    everyone = [c.external_id for c in acked]
    p = platforms
    tickets = Counter(t["call"]["external_id"] for t in p.hook.tickets.values())
    archived = Counter(
        json.loads(line)["call"]["external_id"]
        for line in (state / "archive.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    )
    qolio = Counter(uid.removeprefix("pbx-") for uid in p.qolio.calls)
    usedesk = {c: len(p.usedesk.comments(p.tickets[c])) for c in generic}
    okdesk_issues = Counter(_okdesk_call(issue) for issue in p.okdesk.issues.values())
    okdesk_comments = {_okdesk_call(i): len(i["comments"]) for i in p.okdesk.issues.values()}
    report.duplicates = {
        "webhook (idempotency key)": _extra(tickets, everyone),
        "JSONL archive": _extra(archived, everyone),
        "Qolio (uid)": _extra(qolio, generic),
        "Usedesk (comments)": sum(max(0, n - 1) for n in usedesk.values()),
        "Okdesk (comments)": sum(max(0, n - 1) for n in okdesk_comments.values()),
    }
    imports = Counter(str(i.value.get("Id")) for i in p.tqm.imports)
    mindbox = Counter(json.loads(r.body)["customerAction"]["customFields"]["callId"]
                      for r in p.mindbox.received if r.body)  # fmt: skip
    report.extra_posts = {
        # Okdesk has no search for an issue a killed attempt may have created (the sink
        # logs a warning when it posts again after one).
        "Okdesk issues": _extra(okdesk_issues, generic),
        "TQM imports": sum(max(0, n - 1) for n in imports.values()),
        "Mindbox requests": _extra(mindbox, generic),
        "Qolio posts (upserts by uid)": _posts_beyond_one(p.qolio.posts(), "uid"),
    }
    report.leftover_part_files = len(list(state.rglob("*.part")))
    if report.leftover_part_files and wait_retention:
        # Retention deletes a finished call's half-written download with its recording,
        # once a minute.
        wait_for(lambda: not any(state.rglob("*.part")), 90, "retention to clear .part files")
    missing = {
        "webhook": [c for c in everyone if tickets[c] == 0],
        "archive": [c for c in everyone if archived[c] == 0],
        "qolio": [c for c in generic if qolio[c] == 0],
        "usedesk": [c for c, n in usedesk.items() if n == 0],
        "okdesk": [c for c in generic if okdesk_issues[c] == 0],
    }
    assert not any(missing.values()), f"calls not delivered: {missing}"


_PHONE_IN_TITLE = re.compile(r"\+7999(\d{7})")


def _okdesk_call(issue: dict[str, Any]) -> str:
    found = _PHONE_IN_TITLE.search(str(issue.get("title")))
    return f"chaos-{int(found.group(1)) - 5_000_000}" if found else "?"


def _extra(counts: Counter[str], calls: list[str]) -> int:
    return sum(max(0, counts[c] - 1) for c in calls)


def _posts_beyond_one(posts: list[dict[str, Any]], key: str) -> int:
    counts = Counter(str(p.get(key)) for p in posts)
    return sum(n - 1 for n in counts.values())
