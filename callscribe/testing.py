"""Stand-ins for the world around callscribe, for integration tests and benchmarks.

``Daemon`` runs ``python -m callscribe run`` as a child process; ``SinkServer`` is a
helpdesk that honours idempotency keys the way Stripe documents (the same key creates
nothing new); ``FileServer`` serves recordings like a PBX's web server, optionally
answering 404 until a recording "appears".  All listen on 127.0.0.1 on ephemeral ports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class FileServer(_Server):
    """Serves files from a folder; ``missing_first`` answers 404 that many times per path
    (a recording that is not uploaded yet)."""

    def __init__(self, folder: Path, missing_first: int = 0) -> None:
        self.folder = folder
        self.missing_first = missing_first
        self.requests: list[str] = []
        super().__init__(_FileHandler)


class _FileHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: FileServer = self.server.owner  # type: ignore[attr-defined]
        server.requests.append(self.path)
        target = server.folder / self.path.lstrip("/")
        if server.requests.count(self.path) <= server.missing_first or not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("content-type", "audio/wav")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


class SinkServer(_Server):
    """A helpdesk: POSTs create tickets; a repeated Idempotency-Key creates nothing.

    ``answers`` is a list of status codes to give, in order, before answering 200;
    ``delay`` seconds pass before each answer (a slow helpdesk).
    """

    def __init__(self, answers: list[int] | None = None, delay: float = 0.0) -> None:
        self.answers = list(answers or [])
        self.delay = delay
        self.posts: list[dict[str, Any]] = []
        self.tickets: dict[str, dict[str, Any]] = {}
        self.created: dict[str, float] = {}  # time.monotonic() each ticket was made
        self.lock = threading.Lock()
        super().__init__(_SinkHandler)

    def tickets_for(self, external_id: str) -> int:
        return sum(1 for t in self.tickets.values() if t["call"]["external_id"] == external_id)


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: SinkServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        key = self.headers.get("idempotency-key", "")
        time.sleep(server.delay)
        with server.lock:
            server.posts.append(body)
            status = server.answers.pop(0) if server.answers else 200
            if status == 200 and key not in server.tickets:
                server.tickets[key] = body
                server.created[key] = time.monotonic()
        payload = json.dumps({"id": f"ticket-{key[-8:]}"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class Daemon:
    """``callscribe run`` in a child process; its output goes to ``log``.

    ``prefix`` runs it under another program (``strace -f ...``); signals still go to the
    daemon itself (:meth:`pid`).  ``options`` go before ``run`` (``-vv`` for debug logs).
    """

    def __init__(
        self,
        config: Path,
        port: int,
        model_dir: Path,
        log: Path,
        *,
        prefix: Sequence[str] = (),
        options: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.prefix = list(prefix)
        self.options = list(options)
        self.env = {**os.environ, "CALLSCRIBE_MODEL_DIR": str(model_dir)}
        self.env.pop("NOTIFY_SOCKET", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        command = [sys.executable, "-m", "callscribe", *self.options, "run"]
        command += ["--config", str(self.config)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*self.prefix, *command], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(self._ready, timeout, f"daemon ready (log: {self.log})")

    def pid(self) -> int:
        """The daemon's process id (with a prefix, the prefix program's child)."""
        process = self._running()
        if not self.prefix:
            return process.pid
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        return int(children[0])

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("the daemon was not started")
        return self.process

    def _ready(self) -> bool:
        code = self._running().poll()
        if code is not None:
            raise AssertionError(f"daemon exited with {code}: {self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        process = self._running()
        os.kill(self.pid(), signal.SIGKILL)
        process.wait(30)

    def stop(self, timeout: float = 90.0) -> int:
        process = self._running()
        os.kill(self.pid(), signal.SIGTERM)
        return process.wait(timeout)


@contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    daemon.start()
    try:
        yield daemon
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.stop()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
