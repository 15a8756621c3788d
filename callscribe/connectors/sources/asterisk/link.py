"""The AMI connection: panoramisk's Manager with the discipline it lacks.

panoramisk 1.4 (integrations.md §8.3) connects, frames and dispatches; callscribe adds
around it what it does not do:

- one :class:`Manager` per connection, made inside the running loop, whose own reconnect
  (a fixed 2 s ``call_later``) and pinger (which never checks for answers, and pings before
  login: AsterNET#214) are switched off; this module reconnects with exponential backoff
  and jitter, never blocking the loop, and logs in itself (MD5 challenge by default, which
  1.4 cannot do), sending nothing else before the login is accepted (R-AMI-4);
- a watchdog: a Ping every ``ping_seconds``, and a link that has said nothing for
  ``ping_timeout_seconds`` is dropped as half-open (R-AMI-3);
- framing by :mod:`.framing` (64 KiB cap, R-AMI-5), and every message handled inside a
  guard: a response panoramisk 1.4 chokes on (``KeyError: 'async'`` in ``Action.multi``
  on "successfully queued", its issues #90 and #97) costs that message, not the link.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import ipaddress
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callscribe.connectors.sources.asterisk.config import AsteriskSourceConfig
from callscribe.connectors.sources.asterisk.framing import (
    MAX_MESSAGE_BYTES,
    FrameReader,
    FrameTooLarge,
    Headers,
)
from callscribe.logmask import sanitize

log = logging.getLogger(__name__)
# panoramisk's own chatter ("Sending awaiting actions" at every login) says nothing an
# admin can act on; its warnings and errors still show.
_PANORAMISK_LOG = logging.getLogger(f"{__name__}.panoramisk")
_PANORAMISK_LOG.setLevel(logging.WARNING)

REFUSED_LOGINS_BEFORE_SLOWING = 3
SLICE = 50  # messages handled before the event loop gets a turn
MAX_BACKLOG = 5_000  # messages received and not handled yet; past it, reading pauses
# Actions that must never be sent again on a later connection (panoramisk re-sends
# unanswered ones after FullyBooted).
_OURS = ("ping", "login", "challenge", "listcommands", "logoff")


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOGIN_REFUSED = "login refused"
    DOWN = "down"


class LoginRefused(Exception):  # noqa: N818 - what Asterisk said
    pass


@dataclass(slots=True)
class LinkStatus:
    state: LinkState = LinkState.CONNECTING
    connections: int = 0  # successful logins so far
    last_error: str | None = None


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, fed by the bounded reader and unable to die of a message.

    Messages are handled in slices of :data:`SLICE` by a task, not all inside
    ``data_received``: a burst of a thousand events would otherwise hold the event loop
    for a tenth of a second.  A backlog past :data:`MAX_BACKLOG` pauses reading (TCP
    pushes back on Asterisk) until it is worked off.
    """

    def __init__(self, heard: Callable[[], None], max_message_bytes: int) -> None:
        super().__init__()
        self._heard = heard
        self._reader = FrameReader(max_message_bytes)
        self._backlog: deque[Headers] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False

    def data_received(self, data: bytes) -> None:
        self._heard()
        try:
            self._backlog.extend(self._reader.feed(data))
        except FrameTooLarge as exc:
            log.error("AMI: %s; this is not Asterisk speaking AMI, dropping the link", exc)
            self._backlog.extend(exc.complete)
            self.transport.abort()
        if len(self._backlog) > MAX_BACKLOG and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        if self._backlog and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self._backlog:
            for _ in range(min(SLICE, len(self._backlog))):
                self._handle(self._backlog.popleft())
            if self._paused and len(self._backlog) < MAX_BACKLOG // 2:
                self._paused = False
                if not self.transport.is_closing():
                    self.transport.resume_reading()
            await asyncio.sleep(0)

    def _handle(self, headers: Headers) -> None:
        try:
            self.handle_message(Message(headers))
        except Exception as exc:  # one bad message must not end the link
            log.warning(
                "AMI: ignored a message that could not be handled (%s: %s): %s",
                type(exc).__name__,
                sanitize(str(exc)),
                sanitize(str(headers)[:300]),
            )

    async def finish(self) -> None:
        """Handle what was received before the link closed, before a new one opens."""
        if self._worker is not None:
            try:
                await self._worker
            except asyncio.CancelledError:
                self._worker.cancel()
                raise


class _Manager(Manager):  # type: ignore[misc]
    """A Manager for one connection: no automatic reconnect, no blind pinger."""

    def __init__(self, lost: asyncio.Future[None], **config: Any) -> None:
        super().__init__(**config)
        self.lost = lost

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            super().connection_made(future)
        # A failed connect is reported by the awaited task; panoramisk would reschedule it.

    def ping(self) -> None:
        """The watchdog pings, after login, and checks the answers."""

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        if not self.lost.done():
            self.lost.set_result(None)


class Backoff:
    """Waits between tries: exponential with jitter, and after repeated refused logins at
    most one try per ``login_retry`` seconds."""

    def __init__(self, low: float, high: float, login_retry: float, rng: random.Random) -> None:
        self.low, self.high, self.login_retry = low, high, login_retry
        self._rng = rng
        self.failures = 0
        self.refusals = 0

    def reset(self) -> None:
        self.failures = self.refusals = 0

    def after_failure(self, refused: bool) -> float:
        self.failures += 1
        self.refusals = self.refusals + 1 if refused else 0
        if self.refusals >= REFUSED_LOGINS_BEFORE_SLOWING:
            return self.login_retry * self._rng.uniform(1.0, 1.1)
        base = min(self.high, self.low * 2.0 ** (self.failures - 1))
        return base * self._rng.uniform(0.5, 1.0)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_warning(config: AsteriskSourceConfig) -> str | None:
    """What to say when AMI is reached over the network without TLS (R-AMI-1)."""
    if config.tls or is_loopback(config.host):
        return None
    secret = " and the secret" if config.auth == "plain" else ""
    return (
        f"AMI at {config.host} is reached without TLS: call events, with callers' numbers{secret}, "
        "cross the network in plain text; enable tls (manager.conf tlsenable) or run "
        "callscribe on the PBX"
    )


OnMessage = Callable[[Mapping[str, Any]], None]
OnUp = Callable[[float | None], Awaitable[None]]


class AmiLink:
    """Keeps one AMI session up; hands every event to ``on_message`` and, after each
    login, calls ``on_up`` with when the previous session last heard anything."""

    def __init__(
        self,
        name: str,
        config: AsteriskSourceConfig,
        on_message: OnMessage,
        on_up: OnUp,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._on_message = on_message
        self._on_up = on_up
        self.status = LinkStatus()
        self.backoff = Backoff(
            config.reconnect_min_seconds,
            config.reconnect_max_seconds,
            config.login_retry_seconds,
            rng or random.Random(),  # noqa: S311 - jitter, not secrecy
        )
        self._last_heard = time.monotonic()
        self._last_heard_wall: float | None = None  # time.time() of the last byte, any session
        self._checked_rights = False

    async def run(self) -> None:
        warning = plaintext_warning(self.config)
        if warning:
            log.warning("source %s: %s", self.name, warning)
        while True:
            refused = False
            try:
                await self._session()
                self._set(LinkState.DOWN, "the link was lost")
            except LoginRefused as exc:
                refused = True
                self._set(LinkState.LOGIN_REFUSED, str(exc))
            except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
                self._set(LinkState.DOWN, _describe(exc))
            delay = self.backoff.after_failure(refused)
            log.warning(
                "source %s: AMI at %s:%d: %s; next try in %.0f s",
                self.name, self.config.host, self.config.port, self.status.last_error, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)

    def _set(self, state: LinkState, error: str | None) -> None:
        self.status.state, self.status.last_error = state, error

    def _heard(self) -> None:
        self._last_heard = time.monotonic()
        self._last_heard_wall = time.time()

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        config = self.config
        manager = _Manager(
            lost,
            host=config.host,
            port=config.port,
            ssl=self._tls(),
            loop=loop,
            events="on",
            forgetable_actions=_OURS,
            log=_PANORAMISK_LOG,
            protocol_factory=lambda: _Protocol(self._heard, MAX_MESSAGE_BYTES),
        )
        manager.register_event("*", self._dispatch)
        gap_from = self._last_heard_wall
        self.status.state = LinkState.CONNECTING
        try:
            async with asyncio.timeout(config.login_timeout_seconds):
                await manager.connect()
                self._heard()
                await self._login(manager)
            self.backoff.reset()
            self.status.connections += 1
            self._set(LinkState.CONNECTED, None)
            log.info("source %s: AMI logged in at %s:%d", self.name, config.host, config.port)
            if not self._checked_rights:
                self._checked_rights = True
                await self._warn_about_rights(manager)
            await self._on_up(gap_from)
            watchdog = asyncio.create_task(self._watch(manager, lost))
            try:
                await lost
            finally:
                watchdog.cancel()
        finally:
            manager.close()
            if isinstance(manager.protocol, _Protocol):
                await manager.protocol.finish()

    async def _login(self, manager: _Manager) -> None:
        config = self.config
        action: dict[str, str] = {"Action": "Login", "Username": config.username, "Events": "on"}
        secret = config.secret.reveal()
        if config.auth == "md5":
            challenge = await _ask(manager, {"Action": "Challenge", "AuthType": "MD5"})
            if not challenge.success or not challenge.challenge:
                raise LoginRefused(f"Asterisk refused the MD5 challenge ({_said(challenge)})")
            key = hashlib.md5((challenge.challenge + secret).encode()).hexdigest()  # noqa: S324 - AMI's scheme
            action |= {"AuthType": "MD5", "Key": key}
        else:
            action["Secret"] = secret
        answer = await _ask(manager, action)
        if not answer.success:
            raise LoginRefused(f"login refused for user {config.username!r} ({_said(answer)})")

    async def _watch(self, manager: _Manager, lost: asyncio.Future[None]) -> None:
        """Ping, and drop a link that has gone quiet (a NAT or firewall that forgot it)."""
        config = self.config
        tick = min(1.0, config.ping_seconds / 2, config.ping_timeout_seconds / 4)
        next_ping = time.monotonic() + config.ping_seconds
        while not lost.done():
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_heard > config.ping_timeout_seconds:
                log.warning(
                    "source %s: AMI silent for %.0f s despite Pings: the link is dead; "
                    "reconnecting",
                    self.name, now - self._last_heard,
                )  # fmt: skip
                manager.protocol.transport.abort()
                return
            if now >= next_ping:
                manager.send_action({"Action": "Ping"})
                next_ping = now + config.ping_seconds

    async def _warn_about_rights(self, manager: _Manager) -> None:
        config = self.config
        try:
            async with asyncio.timeout(config.login_timeout_seconds):
                listed = await _ask(manager, {"Action": "ListCommands"})
        except (TimeoutError, ConnectionError):
            return
        risky = [name for name in ("Command", "Originate") if name in listed]
        if risky:
            log.warning(
                "source %s: the AMI user %r may run %s: it needs only 'read = call,cdr,dialplan' "
                "and an empty 'write =' in manager.conf; anyone holding its secret can %s",
                self.name, config.username, " and ".join(risky),
                "run shell-level commands and place calls" if len(risky) == 2 else
                ("run CLI commands" if risky == ["Command"] else "place calls"),
            )  # fmt: skip

    def _dispatch(self, _: object, message: Mapping[str, Any]) -> None:
        self._on_message(message)

    def _tls(self) -> ssl.SSLContext | bool:
        if not self.config.tls:
            return False
        cafile = str(self.config.tls_ca) if self.config.tls_ca else None
        context = ssl.create_default_context(cafile=cafile)
        if not self.config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


async def _ask(manager: _Manager, action: dict[str, str]) -> Any:
    """The answer to one action; ConnectionError if the link goes first."""
    answer = manager.send_action(action)
    await asyncio.wait([answer, manager.lost], return_when=asyncio.FIRST_COMPLETED)
    if not answer.done():
        raise ConnectionError("the link closed before Asterisk answered")
    return answer.result()


def _said(message: Mapping[str, Any]) -> str:
    said = message.get("Message") or message.get("Response") or "no reason given"
    return sanitize(str(said))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time (connect or login)"
    return sanitize(f"{type(exc).__name__}: {exc}")
