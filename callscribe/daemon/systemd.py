"""Talk to systemd's service manager: readiness, status, watchdog (the sd_notify protocol).

Dependency-free on purpose: the protocol is one ``sendto()`` of ``KEY=VALUE`` lines on a
unix datagram socket (sd_notify(3)), and a C binding or a PyPI package would be a moving
part inside the process that systemd restarts when it misbehaves.

- Not under systemd (no ``$NOTIFY_SOCKET``): every method is a no-op, so the daemon runs
  unchanged in a terminal, a container or a test.
- Sending never raises and never blocks: a lost notification must not take the daemon
  down, and a full socket queue must not stall the event loop (``MSG_DONTWAIT``).  The first
  failure of a streak is logged at WARNING, the rest at DEBUG, so an outage of the manager
  does not flood the journal.
- ``from_environment()`` removes ``NOTIFY_SOCKET``/``WATCHDOG_*`` from the environment, as
  ``sd_notify(unset_environment=1)`` does: the unit has ``NotifyAccess=main``, so a child
  (ffmpeg, a worker process) that inherited them could only send messages systemd rejects,
  or believe it is the one being watched.
- :func:`watchdog_loop` pings from the event loop itself, so a blocked loop stops the pings
  and systemd restarts the service (R-SD-2); a ping from a thread would hide the hang.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping

__all__ = ["Notifier", "watchdog_loop"]

log = logging.getLogger(__name__)

# STATUS= is shown by `systemctl status`; keep it one readable line.
MAX_STATUS_CHARS = 500


class Notifier:
    """A client for the sd_notify socket; a silent no-op when *address* is None."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = _socket_address(address)
        self._watchdog_usec = watchdog_usec if self._address is not None else None
        self._socket: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``; then remove them."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec = _watchdog_usec(env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID"))
        if unset:
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(name, None)  # os.environ.pop also unsetenv()s for C code and children
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of ``WatchdogSec=``, as sd_watchdog_enabled(3) advises.

        None when the watchdog is off, or when ``WATCHDOG_PID`` names another process.
        """
        return None if self._watchdog_usec is None else self._watchdog_usec / 2_000_000

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up (or a reload) is complete: ``systemctl start`` returns now."""
        return self.notify("READY=1", status=status)

    def status(self, text: str) -> bool:
        """Set the free-text status line ``systemctl status`` shows."""
        return self.notify(status=text)

    def watchdog(self, status: str | None = None) -> bool:
        """Reset the watchdog timer; without one within ``WatchdogSec=`` systemd aborts us."""
        return self.notify("WATCHDOG=1", status=status)

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd shutdown has begun, so it shows "deactivating" rather than a hang."""
        return self.notify("STOPPING=1", status=status)

    def reloading(self, status: str | None = None) -> bool:
        """Tell systemd a reload has begun; finish it with :meth:`ready`.

        systemd >= 253 wants ``MONOTONIC_USEC`` (CLOCK_MONOTONIC) with ``RELOADING=1`` to
        tell this reload from an earlier one; older versions ignore the extra field.
        """
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={now_usec}", status=status)

    def extend_timeout(self, seconds: float, status: str | None = None) -> bool:
        """Ask for *seconds* more before the current start/stop timeout fires.

        For slow but healthy steps (assembling a model on first start, a long migration),
        so ``TimeoutStartSec=`` can stay short for the hangs it exists to catch.
        """
        usec = max(1, int(seconds * 1_000_000))
        return self.notify(f"EXTEND_TIMEOUT_USEC={usec}", status=status)

    def notify(self, *fields: str, status: str | None = None) -> bool:
        """Send ``KEY=VALUE`` *fields* (and ``STATUS=``) in one datagram; True if sent."""
        if self._address is None:
            return False
        lines = list(fields)
        if status is not None:
            lines.append("STATUS=" + _one_line(status))
        if not lines:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # "replace": a file name with undecodable bytes must not turn into an exception.
            payload = "\n".join(lines).encode("utf-8", "replace")
            self._socket.sendto(payload, socket.MSG_DONTWAIT, self._address)
        except OSError as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "cannot notify systemd (%s): %s", lines[0].split("=")[0], exc)
            self._failing = True
            return False
        if self._failing:
            log.info("notifications to systemd work again")
            self._failing = False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


async def watchdog_loop(notifier: Notifier, status: Callable[[], str]) -> None:
    """Ping the watchdog, with ``status()`` as the status line, every watchdog interval.

    Runs until cancelled; returns at once if the watchdog is off.  It must run on the event
    loop it vouches for: if a callback blocks the loop longer than ``WatchdogSec=``, the
    pings stop and systemd kills and restarts the service, which is the point.
    """
    interval = notifier.watchdog_interval
    if interval is None:
        return
    status_failed = False
    while True:
        try:
            text: str | None = status()
        except Exception:
            # A broken status callback is a bug to report, not a hang: keep vouching.
            if not status_failed:
                log.exception("watchdog status callback failed; pinging without a status")
            status_failed = True
            text = None
        notifier.watchdog(text)
        await asyncio.sleep(interval)


def _socket_address(value: str | None) -> str | bytes | None:
    """The ``sendto()`` address for ``$NOTIFY_SOCKET``, or None if unusable."""
    if not value:
        return None
    if value.startswith("@"):
        # Linux abstract namespace: the name is the rest after a NUL byte (sd_notify(3)).
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    # e.g. vsock:CID:PORT (systemd >= 254, for VMs): not reachable with AF_UNIX only.
    log.warning("NOTIFY_SOCKET=%r is not a unix socket path; not notifying systemd", value)
    return None


def _watchdog_usec(usec: str | None, pid: str | None) -> int | None:
    """``WATCHDOG_USEC`` if it is meant for this process (sd_watchdog_enabled(3)), else None."""
    if not usec:
        return None
    try:
        value = int(usec)
        if pid is not None and int(pid) != os.getpid():
            return None  # the watchdog belongs to another process, e.g. our parent
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r / WATCHDOG_PID=%r", usec, pid)
        return None
    return value if value > 0 else None


def _one_line(text: str) -> str:
    """A status line that cannot smuggle in fields: a newline would start a new KEY=VALUE."""
    flat = " ".join(text.splitlines())
    return flat[:MAX_STATUS_CHARS]
