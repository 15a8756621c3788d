"""Fault injection at named points of the daemon, for the crash and watchdog tests
(tests/chaos/, tests/e2e/test_watchdog.py): ``CALLSCRIBE_FAULT`` arms one point, and the
n-th time the daemon reaches it, it kills itself or blocks.

    CALLSCRIBE_FAULT=store.commit:3:kill      SIGKILL at the 3rd commit, before COMMIT runs
    CALLSCRIBE_FAULT=transcribe:1:kill@0.5    SIGKILL 0.5 s after the 1st recognition began
                                              (the work goes on meanwhile: killed mid-way)
    CALLSCRIBE_FAULT=housekeeping:2:block@40  the 2nd housekeeping round blocks its thread
                                              (the event loop) for 40 s

``CALLSCRIBE_FAULT_LOG`` names a file that gets one line per point reached while armed
("reached store.commit 3"), written before the fault acts, so a test knows it was hit.
Unset, which it always is in production, :func:`reach` costs a comparison.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

__all__ = ["POINTS", "reach"]

#: Every point the daemon reaches, and where.
POINTS = {
    "webhook.stored": "a webhook's events are committed; its answer is not sent yet",
    "part.stored": "one notification of a joined call (UIS, Mango) is committed; the call is not",
    "store.commit": "a write transaction has run its statements; COMMIT has not",
    "fetch.body": "a recording's first bytes are written; the rest is being downloaded",
    "transcribe": "recognition of a group of calls has begun",
    "deliver.done": "a platform answered 2xx; the delivery is not committed yet",
    "housekeeping": "a housekeeping round runs on the event loop",
}


@dataclass(frozen=True, slots=True)
class _Fault:
    point: str
    nth: int
    action: str  # "kill" or "block"
    seconds: float


def _armed(spec: str | None) -> _Fault | None:
    if not spec:
        return None
    point, nth, action = spec.split(":")
    action, _, seconds = action.partition("@")
    if point not in POINTS or action not in ("kill", "block"):
        raise ValueError(f"CALLSCRIBE_FAULT={spec!r}: expected POINT:N:kill[@S] or POINT:N:block@S")
    return _Fault(point, int(nth), action, float(seconds or 0))


_FAULT = _armed(os.environ.get("CALLSCRIBE_FAULT"))
_LOG = os.environ.get("CALLSCRIBE_FAULT_LOG")
_reached = 0
_lock = threading.Lock()


def reach(point: str) -> None:
    """The daemon is at ``point``: act if the armed fault says so (see the module)."""
    if _FAULT is None or point != _FAULT.point:
        return
    global _reached  # noqa: PLW0603 - one counter for the process
    with _lock:
        _reached += 1
        count = _reached
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"reached {point} {count}\n")
    if count != _FAULT.nth:
        return
    if _FAULT.action == "block":
        time.sleep(_FAULT.seconds)
    elif _FAULT.seconds:
        threading.Timer(_FAULT.seconds, _kill).start()
    else:
        _kill()


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
