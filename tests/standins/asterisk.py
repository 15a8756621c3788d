"""Asterisk's Manager Interface on 127.0.0.1, strict the way Asterisk is.

It sends the banner, answers ``Challenge`` (MD5) and ``Login`` (plain or MD5 key; a wrong
secret gets "Authentication failed" and the socket closed, as Asterisk does), ``Ping``,
``ListCommands`` (the actions the user may run: ``Command`` and ``Originate`` only when it
has write rights) and ``Logoff``; any other action, and anything before a login, gets
"Permission denied" and is recorded.  Events are whatever the test replays: the captured
stream in ``tests/data/asterisk``, or messages it writes.  It can drop the connection, go
silent without closing (a half-open link), refuse logins, and answer a Ping with the
"successfully queued" message panoramisk 1.4 chokes on.

It runs its own event loop in a thread, so a daemon in another process and an asyncio
test alike can talk to it; the control methods block until done.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent.parent / "data" / "asterisk"
CAPTURE = DATA / "ami-capture.txt"
RECORDINGS = DATA / "recordings"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SECRET = "test-secret"  # manager.conf's in the capture's lab; a test value


def captured_messages(path: Path = CAPTURE) -> list[bytes]:
    """The captured stream as messages (each with its terminating blank line), banner cut."""
    data = path.read_bytes()
    assert data.startswith(BANNER)
    body = data[len(BANNER) :]
    return [chunk + b"\r\n\r\n" for chunk in body.split(b"\r\n\r\n") if chunk.strip()]


def message(**headers: str) -> bytes:
    """One message in AMI's wire format; ``Dest_Channel`` style names keep underscores out."""
    lines = [f"{key.replace('__', '-')}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key.lower()] = value
    return headers


class _Session(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.logged_in = False
        self.stalled = False
        self.challenge: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.sessions.append(self)
        transport.write(BANNER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.closed += 1

    def data_received(self, data: bytes) -> None:
        if self.stalled:
            return  # a half-open link: the bytes go nowhere
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self._action(parse(raw))

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing() and not self.stalled:
            self.transport.write(data)

    def _answer(self, action: Mapping[str, str], response: str = "Success", **more: str) -> None:
        headers = {"Response": response, "ActionID": action.get("actionid", "")} | more
        self.write(message(**headers))

    def _action(self, action: dict[str, str]) -> None:
        server = self.server
        name = action.get("action", "").lower()
        server.actions.append(action | {"_at": time.monotonic()})
        if name == "challenge":
            self.challenge = str(secrets.randbelow(10**9))
            self._answer(action, Challenge=self.challenge)
        elif name == "login":
            self._login(action)
        elif not self.logged_in:
            server.before_login.append(action)
            self._answer(action, "Error", Message="Permission denied")
        elif name == "ping":
            if server.ping_message:
                self._answer(action, Message=server.ping_message)
            else:
                self._answer(action, Ping="Pong", Timestamp=f"{time.time():.6f}")
        elif name == "listcommands":
            allowed = {"Ping": "Keepalive command. (Priv: <none>)"}
            if server.write_rights:
                allowed |= {
                    "Command": "Execute Asterisk CLI Command. (Priv: command,all)",
                    "Originate": "Originate a call. (Priv: originate,all)",
                }
            self._answer(action, **allowed)
        elif name == "logoff":
            self._answer(action, "Goodbye", Message="Thanks for all the fish.")
            assert self.transport is not None
            self.transport.close()
        else:
            self._answer(action, "Error", Message="Permission denied")

    def _login(self, action: Mapping[str, str]) -> None:
        server = self.server
        good = action.get("username") == server.username and not server.refuse_login
        if action.get("authtype", "").lower() == "md5":
            expected = hashlib.md5(f"{self.challenge}{server.secret}".encode()).hexdigest()  # noqa: S324
            good = good and self.challenge is not None and action.get("key") == expected
        else:
            good = good and action.get("secret") == server.secret
        assert self.transport is not None
        if not good:
            server.refused += 1
            self._answer(action, "Error", Message="Authentication failed")
            self.transport.close()
            return
        self.logged_in = True
        server.logins += 1
        self._answer(action, Message="Authentication accepted")
        self.write(message(Event="FullyBooted", Privilege="system,all", Status="Fully Booted"))


class AmiServer:
    """See the module docstring.  Use as a context manager."""

    def __init__(
        self, username: str = "callscribe", secret: str = SECRET, tls: ssl.SSLContext | None = None
    ) -> None:
        self.tls = tls
        self.username = username
        self.secret = secret
        self.refuse_login = False
        self.write_rights = False
        self.ping_message: str | None = None
        self.sessions: list[_Session] = []
        self.actions: list[dict[str, str]] = []
        self.before_login: list[dict[str, str]] = []
        self.logins = 0
        self.refused = 0
        self.closed = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> AmiServer:
        self._thread.start()
        self._server = self._call(self._start())
        return self

    async def _start(self) -> asyncio.Server:
        server = await self._loop.create_server(
            lambda: _Session(self), "127.0.0.1", 0, ssl=self.tls
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def __exit__(self, *_: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for session in self.sessions:
            if session.transport is not None:
                session.transport.abort()

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(30)

    @property
    def current(self) -> _Session | None:
        live = [
            s for s in self.sessions if s.logged_in and s.transport and not s.transport.is_closing()
        ]
        return live[-1] if live else None

    def send(self, messages: Iterable[bytes]) -> None:
        """Write messages to the logged-in session (all at once, as Asterisk bursts)."""
        data = b"".join(messages)

        async def write() -> None:
            session = self.current
            assert session is not None, "no client is logged in"
            session.write(data)

        self._call(write())

    def drop(self) -> None:
        """Close the logged-in session's connection, as a restarting Asterisk does."""

        async def close() -> None:
            session = self.current
            assert session is not None
            assert session.transport is not None
            session.transport.abort()

        self._call(close())

    def stall(self) -> None:
        """The logged-in session goes silent without closing: a link a NAT forgot."""

        async def silence() -> None:
            session = self.current
            assert session is not None
            session.stalled = True

        self._call(silence())

    def wait_logins(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.logins < count or self.current is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for login {count} (have {self.logins})")
            time.sleep(0.05)


@dataclass
class Channel:
    """A channel of a call written by hand, in the same format as the capture."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    cid: str
    cid_name: str = "<unknown>"

    def snapshot(self, prefix: str = "") -> dict[str, str]:
        return {
            f"{prefix}Channel": self.name,
            f"{prefix}ChannelState": "6",
            f"{prefix}CallerIDNum": self.cid,
            f"{prefix}CallerIDName": self.cid_name,
            f"{prefix}ConnectedLineNum": "<unknown>",
            f"{prefix}ConnectedLineName": "<unknown>",
            f"{prefix}Context": self.context,
            f"{prefix}Exten": self.exten,
            f"{prefix}Uniqueid": self.uniqueid,
            f"{prefix}Linkedid": self.linkedid,
        }


def event(name: str, *channels: Channel, **more: str) -> bytes:
    """An event about ``channels[0]`` (and ``channels[1]`` as Dest* for Dial events)."""
    headers = {"Event": name, "Privilege": "call,all"}
    if channels:
        headers |= channels[0].snapshot()
    if len(channels) > 1:
        headers |= channels[1].snapshot("Dest")
    return message(**(headers | more))


def mixmonitor(channel: Channel, app_data: str) -> bytes:
    return event(
        "Newexten", channel, Application="MixMonitor", AppData=app_data, Extension=channel.exten
    )


def varset(channel: Channel, variable: str, value: str) -> bytes:
    return event("VarSet", channel, Variable=variable, Value=value)


def cdr(channel: Channel, disposition: str, destination: Channel | None = None) -> bytes:
    return message(
        Event="Cdr",
        Privilege="cdr,all",
        Source=channel.cid,
        Destination=channel.exten,
        DestinationContext=channel.context,
        Channel=channel.name,
        DestinationChannel=destination.name if destination else "",
        Disposition=disposition,
        UniqueID=channel.uniqueid,
    )
