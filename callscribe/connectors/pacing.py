"""Spread a sink's requests evenly over time, so a re-import of a thousand calls does not
trip the receiving side's flood protection (T-Bank TQM asks for "smooth RPS")."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """At most ``per_second`` requests a second, evenly spaced, shared by every delivery
    of one sink (a token bucket holding one token: no bursts)."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"requests per second must be positive, not {per_second}")
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when this request's turn has come."""
        async with self._lock:
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self._interval
        if turn > now:
            await asyncio.sleep(turn - now)
