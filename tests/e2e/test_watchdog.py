"""The watchdog restart (reliability.md R-SD-2), with the test as the service manager.

systemd cannot run here (no systemd as PID 1, and a user manager will not start without
one), so the test plays its part the way systemd.service(5) describes it: it owns the
``NOTIFY_SOCKET`` datagram socket, sets ``WATCHDOG_USEC``, and when no ``WATCHDOG=1`` came
for ``WatchdogSec`` it sends SIGABRT (``WatchdogSignal=``'s default) and, ``Restart=
on-failure``, starts the service again.

The daemon blocks its own event loop as it starts to recognise a call (the fault injection
seam ``CALLSCRIBE_FAULT=transcribe:1:block@60``): the pings stop, the manager aborts it,
restarts it, and the call is finished by the new process (R-Q-1).  Then, as R-SD-2's
control run, six whole sample calls are transcribed at once while the pings are timed:
not one gap reaches WatchdogSec.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, wait_for
from tests.e2e.test_daemon import TOKEN, config, recordings  # noqa: F401 - fixture
from tests.samples import SAMPLES

pytestmark = pytest.mark.slow

WATCHDOG_SEC = 4.0
CONTROL_CALLS = 6


class ServiceManager(threading.Thread):
    """systemd's side of sd_notify: collects every message with the time it came."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def close(self) -> None:
        self.halt.set()
        self.join()
        self.sock.close()

    def times(self, key: str, since: float = 0.0) -> list[float]:
        return [at for at, fields in list(self.messages) if key in fields and at >= since]

    def environment(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(int(WATCHDOG_SEC * 1e6))}

    def watch(self, daemon: Daemon, since: float, limit: float) -> float | None:
        """Wait up to ``limit`` s; when no ping came for WatchdogSec, SIGABRT the daemon as
        systemd does and return when it did; None if the pings kept coming."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            last = max(self.times("WATCHDOG", since), default=since)
            if time.monotonic() - last > WATCHDOG_SEC:
                os.kill(daemon.pid(), signal.SIGABRT)
                return time.monotonic()
            time.sleep(0.1)
        return None


@contextlib.contextmanager
def reaped(daemon: Daemon) -> Iterator[None]:
    """A test that fails half-way leaves no daemon (and its decoders) running."""
    try:
        yield
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.kill()
            daemon.process.wait(30)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_a_blocked_event_loop_is_aborted_and_restarted_and_its_call_finished(
    tmp_path: Path,
    recordings: Path,  # noqa: F811
    model_dir: Path,
) -> None:
    state = tmp_path / "state"
    shutil.copy(SAMPLES / "call-public-00.wav", recordings / "long.wav")  # 39 s
    manager = ServiceManager(tmp_path / "notify.sock")
    manager.start()
    with FileServer(recordings) as files, SinkServer() as sink:
        port = free_port()
        (tmp_path / "c.toml").write_text(config(state, port, files, {"pbx": sink}), "utf-8")
        daemon = Daemon(tmp_path / "c.toml", port, model_dir, tmp_path / "daemon.log")
        daemon.env |= manager.environment()
        daemon.env |= {"CALLSCRIBE_FAULT": "transcribe:1:block@60",
                       "CALLSCRIBE_FAULT_LOG": str(tmp_path / "faults.log")}  # fmt: skip
        with reaped(daemon):
            started = time.monotonic()
            daemon.start()
            wait_for(lambda: len(manager.times("WATCHDOG", started)) >= 3, 60, "three pings")
            post(daemon, files, "before-the-block")
            aborted = manager.watch(daemon, started, limit=120)
            assert aborted is not None, "the pings never stopped"
            assert daemon.process is not None
            assert daemon.process.wait(30) == -signal.SIGABRT
            assert "reached transcribe 1" in (tmp_path / "faults.log").read_text()
            pings = manager.times("WATCHDOG", started)
            assert pings, "no WATCHDOG=1 before the block"
            assert max(gaps(pings), default=0.0) < WATCHDOG_SEC  # every WatchdogSec/2 until then
            assert aborted - pings[-1] > WATCHDOG_SEC

            # Restart=on-failure, after RestartSec=1 (5 s in the shipped unit).
            time.sleep(1)
            for key in ("CALLSCRIBE_FAULT", "CALLSCRIBE_FAULT_LOG"):
                daemon.env.pop(key)
            restarted = time.monotonic()
            daemon.start()
            # The listener answers a moment before the manager's thread reads READY=1.
            wait_for(lambda: bool(manager.times("READY", restarted)), 30, "READY=1 after restart")
            ready = manager.times("READY", restarted)
            print(f"\nwatchdog: pings every {max(gaps(pings)):.1f} s at most before the block; "
                  f"SIGABRT {aborted - pings[-1]:.1f} s after the last one; "
                  f"ready again {ready[0] - aborted:.1f} s after the abort")  # fmt: skip
            wait_for(lambda: sink.tickets_for("before-the-block") == 1, 300, "the call, recovered")

            # The control run: heavy transcription (six whole sample calls at once, both
            # cores busy), and the loop still answers every ping.
            control = time.monotonic()
            for n in range(CONTROL_CALLS):
                post(daemon, files, f"control-{n}", "long.wav")
            wait_for(
                lambda: all(sink.tickets_for(f"control-{n}") == 1 for n in range(CONTROL_CALLS)),
                600,
                "the control run's calls",
            )
            busy = time.monotonic() - control
            assert manager.watch(daemon, control, limit=0.5) is None
            control_gaps = gaps(manager.times("WATCHDOG", control - WATCHDOG_SEC))
            print(f"control run: {busy:.0f} s transcribing, {len(control_gaps)} pings, the longest "
                  f"gap {max(control_gaps):.2f} s (WatchdogSec={WATCHDOG_SEC:.0f})")  # fmt: skip
            assert len(control_gaps) >= busy / WATCHDOG_SEC
            assert max(control_gaps) < WATCHDOG_SEC
            assert daemon.stop() == 0
    manager.close()
    with sqlite3.connect(state / "callscribe.db") as db:
        assert db.execute("SELECT count(*) FROM calls WHERE state != 'done'").fetchone() == (0,)


def post(daemon: Daemon, files: FileServer, call_id: str, name: str = "short.wav") -> None:
    answer = httpx.post(
        f"{daemon.url}/hooks/pbx",
        json={"id": call_id, "recording_url": f"{files.url}/{name}"},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200
