"""The sd_notify client against a real unix datagram socket, as systemd would listen on it."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callscribe.daemon.systemd import Notifier, watchdog_loop

ENV_NAMES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Manager:
    """The service manager's end: a bound datagram socket and the address to put in the env."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._dir: str | None = None
        if kind == "path":
            # Short on purpose: sun_path holds 108 bytes, pytest's tmp_path can be longer.
            self._dir = tempfile.mkdtemp(prefix="cs-notify-")
            self.address = os.path.join(self._dir, "notify")
            self.env = self.address
        else:
            name = f"callscribe-test-{uuid.uuid4().hex}"
            self.address = "\0" + name
            self.env = "@" + name
        self.sock = self._bind()

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.address)
        sock.settimeout(2)
        return sock

    def go_away(self) -> None:
        """systemd is gone: nothing listens at the address any more."""
        self.sock.close()
        if self.kind == "path":
            os.unlink(self.address)

    def come_back(self) -> None:
        self.sock = self._bind()

    def recv(self) -> str:
        return self.sock.recv(65536).decode()

    def pending(self) -> list[str]:
        """Every datagram already queued, without waiting."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(65536).decode())
        except BlockingIOError:
            return out
        finally:
            self.sock.settimeout(2)

    def close(self) -> None:
        self.sock.close()
        if self._dir is not None:
            Path(self.address).unlink(missing_ok=True)
            os.rmdir(self._dir)


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Manager]:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    mgr = Manager(request.param)
    monkeypatch.setenv("NOTIFY_SOCKET", mgr.env)
    yield mgr
    mgr.close()


@pytest.fixture
def notifier(manager: Manager) -> Iterator[Notifier]:
    n = Notifier.from_environment()
    yield n
    n.close()


# --- exact datagrams ----------------------------------------------------------------------


def test_ready_sends_ready_and_status(manager: Manager, notifier: Notifier) -> None:
    assert notifier.enabled
    assert notifier.ready("listening on 127.0.0.1:8080")
    assert manager.recv() == "READY=1\nSTATUS=listening on 127.0.0.1:8080"


def test_ready_without_status_is_one_field(manager: Manager, notifier: Notifier) -> None:
    assert notifier.ready()
    assert manager.recv() == "READY=1"


def test_each_message_is_exact(manager: Manager, notifier: Notifier) -> None:
    assert notifier.watchdog()
    assert manager.recv() == "WATCHDOG=1"
    assert notifier.status("3 jobs queued")
    assert manager.recv() == "STATUS=3 jobs queued"
    assert notifier.stopping()
    assert manager.recv() == "STOPPING=1"
    assert notifier.stopping("finishing 2 jobs")
    assert manager.recv() == "STOPPING=1\nSTATUS=finishing 2 jobs"
    assert notifier.extend_timeout(2.5)
    assert manager.recv() == "EXTEND_TIMEOUT_USEC=2500000"


def test_reloading_carries_monotonic_usec(manager: Manager, notifier: Notifier) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    match = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", manager.recv())
    assert match is not None
    assert before <= int(match.group(1)) <= after


def test_status_cannot_inject_fields(manager: Manager, notifier: Notifier) -> None:
    # A status built from untrusted text (a file name) must not become READY=1 or
    # WATCHDOG=trigger on a line of its own.
    assert notifier.status("call.wav\nWATCHDOG=trigger\r\nREADY=1")
    assert manager.recv() == "STATUS=call.wav WATCHDOG=trigger READY=1"


def test_undecodable_status_is_sent_not_raised(manager: Manager, notifier: Notifier) -> None:
    assert notifier.status("rec-\udcff.wav")  # os.fsdecode of a non-UTF-8 file name
    assert manager.recv() == "STATUS=rec-?.wav"


# --- environment --------------------------------------------------------------------------


def test_environment_is_unset_after_reading(manager: Manager) -> None:
    os.environ["WATCHDOG_USEC"] = "30000000"
    os.environ["WATCHDOG_PID"] = str(os.getpid())
    notifier = Notifier.from_environment()
    try:
        assert notifier.enabled
        assert notifier.watchdog_interval == 15.0
        for name in ENV_NAMES:
            assert name not in os.environ
        # unsetenv() happened too, so a child process does not inherit the socket.
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.environ.get('NOTIFY_SOCKET'))"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == "None"
        assert notifier.ready()  # still works after the env var is gone
        assert manager.recv() == "READY=1"
    finally:
        notifier.close()


def test_unset_false_leaves_environment(manager: Manager) -> None:
    Notifier.from_environment(unset=False).close()
    assert os.environ["NOTIFY_SOCKET"] == manager.env


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 15.0),  # WatchdogSec=30s -> ping every 15 s
        ("30000000", "self", 15.0),
        ("200000", None, 0.1),
        ("30000000", "other", None),  # the watchdog is someone else's (e.g. our parent)
        ("0", None, None),
        ("-5", None, None),
        ("thirty", None, None),
        ("30000000", "not-a-pid", None),
        (None, None, None),
    ],
)
def test_watchdog_interval(usec: str | None, pid: str | None, expected: float | None) -> None:
    env = {"NOTIFY_SOCKET": "/run/systemd/notify"}
    if usec is not None:
        env["WATCHDOG_USEC"] = usec
    if pid is not None:
        env["WATCHDOG_PID"] = {"self": str(os.getpid()), "other": str(os.getppid())}.get(pid, pid)
    assert Notifier.from_environment(env).watchdog_interval == expected
    assert env == {}  # read, then removed


def test_watchdog_needs_a_socket() -> None:
    assert Notifier.from_environment({"WATCHDOG_USEC": "30000000"}).watchdog_interval is None


# --- not under systemd, and failures --------------------------------------------------


def test_no_op_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    notifier = Notifier.from_environment()
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    assert not notifier.ready("x")
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.stopping()
    assert not notifier.reloading()
    notifier.close()


def test_unsupported_address_disables(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="callscribe.daemon.systemd"):
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert not notifier.ready()
    assert "not a unix socket path" in caplog.text


def test_socket_gone_never_raises_and_warns_once(
    manager: Manager, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    assert notifier.ready()
    assert manager.recv() == "READY=1"
    manager.go_away()
    with caplog.at_level(logging.DEBUG, logger="callscribe.daemon.systemd"):
        assert not notifier.watchdog()
        assert not notifier.status("still here")
        assert not notifier.stopping()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, caplog.text
        assert "cannot notify systemd (WATCHDOG)" in warnings[0].getMessage()
        # The manager comes back at the same address: sending works again, and says so.
        manager.come_back()
        assert notifier.watchdog()
        assert manager.recv() == "WATCHDOG=1"
        assert "work again" in caplog.records[-1].getMessage()


def test_full_queue_does_not_block(manager: Manager, notifier: Notifier) -> None:
    # Nobody reads: the socket queue fills up.  A blocking send would hang here (and, in
    # the daemon, the event loop); MSG_DONTWAIT makes the extra pings fail instead.
    started = time.monotonic()
    results = [notifier.watchdog() for _ in range(5000)]
    assert time.monotonic() - started < 5
    assert results[0]
    assert not all(results)


# --- the watchdog loop ------------------------------------------------------------------


class Recorder:
    """Receives datagrams on a thread and stamps each with its arrival time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.items: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Recorder:
        self.sock.settimeout(0.02)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.items.append((time.monotonic(), data.decode()))


async def test_watchdog_loop_pings_while_free_and_stops_when_blocked(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2s -> ping every 0.1 s
    notifier = Notifier.from_environment()
    assert notifier.watchdog_interval == pytest.approx(0.1)
    jobs = iter(range(1000))
    with Recorder(manager.sock) as recorder:
        task = asyncio.create_task(watchdog_loop(notifier, lambda: f"{next(jobs)} jobs"))
        start = time.monotonic()
        await asyncio.sleep(1.0)  # the loop is free
        blocked_from = time.monotonic()
        time.sleep(1.0)  # the point: a callback that hogs the loop for 5 x WatchdogSec
        blocked_until = time.monotonic()
        await asyncio.sleep(0.6)  # free again
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        end = time.monotonic()
    notifier.close()

    times = [t for t, _ in recorder.items]
    texts = [m for _, m in recorder.items]
    assert texts[0] == "WATCHDOG=1\nSTATUS=0 jobs"
    assert all(re.fullmatch(r"WATCHDOG=1\nSTATUS=\d+ jobs", m) for m in texts), texts
    free_before = [t for t in times if t < blocked_from]
    # 1 s at 0.1 s intervals: about 10 pings; fewer than 4 means the loop is not pinging.
    assert len(free_before) >= 4, times
    # While the loop is blocked, nothing (a ping sent just before may be read a moment late
    # by the recorder's thread on a busy machine).
    assert not [t for t in times if blocked_from + 0.3 < t < blocked_until], times
    assert len([t for t in times if t >= blocked_until]) >= 2, times  # and it resumes
    gaps = [b - a for a, b in zip([start, *times], [*times, end], strict=True)]
    # The block shows up as a gap systemd would act on (> WatchdogSec = 0.2 s) ...
    assert max(gaps) >= 0.5
    # ... and it is the only one: while free, pings come well within WatchdogSec.
    assert sorted(gaps)[-2] < 0.2, gaps


async def test_watchdog_loop_returns_when_watchdog_off(manager: Manager) -> None:
    notifier = Notifier.from_environment()  # NOTIFY_SOCKET but no WATCHDOG_USEC
    await asyncio.wait_for(watchdog_loop(notifier, lambda: "x"), timeout=1)
    assert manager.pending() == []
    notifier.close()


async def test_watchdog_loop_survives_a_broken_status(
    manager: Manager, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    notifier = Notifier.from_environment()

    def broken() -> str:
        raise RuntimeError("status bug")

    pings: list[str] = []
    with caplog.at_level(logging.ERROR, logger="callscribe.daemon.systemd"):
        task = asyncio.create_task(watchdog_loop(notifier, broken))
        deadline = time.monotonic() + 10  # two pings 50 ms apart, however loaded the machine
        while len(pings) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            pings += manager.pending()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    notifier.close()
    pings += manager.pending()
    assert len(pings) >= 2
    assert set(pings) == {"WATCHDOG=1"}
    assert len([r for r in caplog.records if "status callback failed" in r.getMessage()]) == 1
