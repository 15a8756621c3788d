"""Hostile recordings through the real daemon (reliability.md R-AUD-1..3).

One daemon, the generic webhook source, the recordings served by a FileServer: one call
per file of tests/hostile_audio.py's corpus (273 files: lying WAV headers, files posing
as audio, FLAC bombs, every accepted format cut short, random mutants).  Every call of the
must-fail families ends failed with its reason, naming the file; a mutant that happens to
stay valid may decode as far as its header vouches.  ``/healthz`` is asked all along and
answers every time.  The daemon runs under strace (where installed): the decoder processes
open no socket, run no program, open no file but the recordings they are handed and the
Python runtime's own, and the HLS playlists' targets see no request.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import callscribe
from callscribe.testing import Daemon, FileServer, SinkServer, free_port, wait_for
from tests.hostile_audio import MUST_FAIL, corpus

pytestmark = pytest.mark.slow

TOKEN = "hostile-audio-token-0123456789"
# What the decoder processes may open besides the recordings: the interpreter, its
# libraries and the system's (read at import time), the package itself, a few kernel
# files and multiprocessing's semaphores.
PACKAGE = str(Path(callscribe.__file__).resolve().parents[1])
SEMAPHORES = "/dev/shm/sem.mp-"  # noqa: S108 - multiprocessing's, named by Python
RUNTIME = (
    *dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, PACKAGE]),
    *("/usr/lib", "/lib", "/usr/share/zoneinfo", "/usr/share/locale", "/etc/ld.so.cache"),
    *("/etc/localtime", "/proc/self/", "/sys/devices/system/cpu/", "/dev/null"),
    *("/dev/urandom", SEMAPHORES),
)
# libsndfile, failing to open a stream, looks for a Mac resource fork (Sound Designer II)
# under names made from the file's path, which a stream has none of: these, relative to
# the working directory.  Allowed only as failed attempts.
RESOURCE_FORK_PROBES = ("._", ".AppleDouble/", "/..namedfork/rsrc")
STRACED = ("openat", "open", "creat", "socket", "connect", "bind", "sendto", "sendmsg",
           "execve", "execveat", "clone", "clone3", "fork", "vfork")  # fmt: skip


class Health(threading.Thread):
    """Asks /healthz every 0.2 s; remembers every answer's status and time."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[tuple[int, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            started = time.monotonic()
            try:
                status = httpx.get(f"{self.url}/healthz", timeout=10).status_code
            except httpx.HTTPError:
                status = 0
            self.answers.append((status, time.monotonic() - started))


class Canary(FileServer):
    """Where the playlists point: any request here is a decoder following one."""


def strace_prefix(log: Path) -> list[str]:
    tool = shutil.which("strace")
    if tool is None:
        return []
    calls = ",".join(STRACED)
    return [tool, "-f", "-qq", "-s", "300", "--seccomp-bpf", "-e", f"trace={calls}",
            "-e", "signal=none", "-o", str(log)]  # fmt: skip


def decoder_calls(log: Path) -> tuple[int, list[str]]:
    """How many decoder processes ran, and the system calls they (and their threads) made
    after becoming one, each whole (strace splits a call another thread interrupted into
    "<unfinished ...>" and "<... resumed>").  A decoder is a process that exec'd
    multiprocessing's spawn_main."""
    lines = [line.partition(" ") for line in log.read_text("utf-8", "replace").splitlines()]
    parent: dict[str, str] = {}
    roots: dict[str, int] = {}  # tid -> index of its exec into a decoder
    for index, (tid, _, call) in enumerate(lines):
        child = re.search(r"= (\d+)$", call)
        if child and re.match(r"(<\.\.\. )?v?(clone3?|fork)\b", call):
            parent[child.group(1)] = tid
        if call.startswith("execve(") and "spawn_main" in call and "resource_tracker" not in call:
            roots[tid] = index

    def decoder(tid: str, index: int) -> bool:
        while tid not in roots:
            if tid not in parent:
                return False
            tid, index = parent[tid], len(lines)  # a thread or child: all of its life
        return index > roots[tid]

    calls, pending = [], {}
    for index, (tid, _, call) in enumerate(lines):
        if not decoder(tid, index):
            continue
        if call.endswith("<unfinished ...>"):
            pending[tid] = call.removesuffix("<unfinished ...>")
        elif call.startswith("<... "):
            calls.append(pending.pop(tid, "") + call.split(" resumed>", 1)[-1])
        else:
            calls.append(call)
    return len(roots), calls


def test_hostile_recordings_fail_alone_with_their_reasons(tmp_path: Path, model_dir: Path) -> None:
    trace = tmp_path / "strace.log"
    served = tmp_path / "served"
    served.mkdir()
    state = tmp_path / "state"
    with Canary(tmp_path) as canary, FileServer(served) as files, SinkServer() as sink:
        hostile = corpus(leak_to=f"{canary.url}/leak.ts")
        for item in hostile:
            (served / item.name).write_bytes(item.data)
        port = free_port()
        (tmp_path / "c.toml").write_text(
            f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[retry]
fetch = [1]
transcribe = [1]

[sources.pbx]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{files.port}]

[sinks.desk]
type = "webhook"
url = "{sink.url}/calls"

[[routes]]
sinks = ["desk"]
calls = "all"
""",
            "utf-8",
        )
        prefix = strace_prefix(trace)
        daemon = Daemon(
            tmp_path / "c.toml", port, model_dir, tmp_path / "daemon.log", prefix=prefix
        )
        daemon.start(timeout=300)
        health = Health(daemon.url)
        health.start()
        try:
            started = time.monotonic()
            with httpx.Client(timeout=30) as client:
                for item in hostile:
                    answer = client.post(
                        f"{daemon.url}/hooks/pbx",
                        json={"id": item.name, "recording_url": f"{files.url}/{item.name}"},
                        headers={"authorization": f"Bearer {TOKEN}"},
                    )
                    assert answer.status_code == 200, answer.text
            database = state / "callscribe.db"
            wait_for(
                lambda: _unfinished(database) == 0,
                900,
                f"every hostile call to end (log: {daemon.log})",
            )
            elapsed = time.monotonic() - started
        finally:
            health.halt.set()
            health.join()
            assert daemon.stop() == 0

    outcomes = _outcomes(database)
    assert set(outcomes) == {item.name for item in hostile}
    report = Counter()
    for item in hostile:
        call_id, state_, error = outcomes[item.name]
        report[(item.family, state_)] += 1
        if item.family in MUST_FAIL or state_ != "done":
            assert state_ == "failed", f"{item.name} ended {state_}"
            # The reason is the decoder's own, naming the call's copy of the file.
            assert error.startswith("transcribe: "), error
            assert f"/recordings/{call_id}/" in error, error
            assert "crashed" not in error, error
            assert "did not finish" not in error, error
    print("\nhostile files:", len(hostile), "in", f"{elapsed:.0f} s;", dict(sorted(report.items())))

    statuses = Counter(status for status, _ in health.answers)
    slowest = max(seconds for _, seconds in health.answers)
    print(f"/healthz: {dict(statuses)} answers, slowest {slowest:.2f} s")
    assert statuses.keys() == {200}, statuses
    assert len(health.answers) >= 10
    assert canary.requests == [], "a decoder followed a playlist"
    log = daemon.log.read_text("utf-8")
    assert "Traceback" not in log
    if not prefix:
        pytest.skip("strace is not installed: decoder isolation not checked (apt install strace)")
    _decoders_touched_nothing_else(trace, state / "recordings")


def _decoders_touched_nothing_else(trace: Path, recordings: Path) -> None:
    processes, calls = decoder_calls(trace)
    assert processes, "no decoder process was traced"
    opened: Counter[str] = Counter()
    for line in calls:
        call = line.split("(", 1)[0].strip()
        assert call not in ("socket", "connect", "bind", "sendto", "sendmsg"), line
        assert not call.startswith("execve"), line
        found = re.search(r'"([^"]*)"', line)
        if call not in ("openat", "open", "creat") or not found:
            continue
        path = found.group(1)
        if path.startswith(str(recordings)):
            assert "O_RDONLY" in line, line
            opened["recordings"] += 1
        elif path.startswith(RESOURCE_FORK_PROBES):
            assert "ENOENT" in line, f"libsndfile found a resource fork: {line}"
            opened["libsndfile resource-fork probes (ENOENT)"] += 1
        else:
            assert path.startswith(RUNTIME), f"a decoder opened {path}: {line}"
            assert "O_RDONLY" in line or path.startswith(SEMAPHORES), line
            opened["runtime"] += 1
    print(f"decoder processes traced: {processes}; files opened: {dict(opened)}")
    assert opened["recordings"] > 0


def _unfinished(database: Path) -> int:
    with sqlite3.connect(database, timeout=10) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM calls WHERE state NOT IN ('failed', 'done')"
        ).fetchone()
        return int(count)


def _outcomes(database: Path) -> dict[str, tuple[int, str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT external_id, id, state, coalesce(error, '') FROM calls")
        return {external_id: (call_id, state, error) for external_id, call_id, state, error in rows}
