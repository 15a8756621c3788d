"""When to try a failed job again, as data (procrastinate's split of policy and decision).

A :class:`RetryPolicy` is the schedule; :meth:`RetryPolicy.next_delay` is the decision
for one failure.  The worker asks it after a retryable error and either calls
``store.retry(job, error, run_at)`` or, on None, ``store.bury(job, error)``.

``attempt`` is the number of the attempt that just failed, counting from 1; a policy
with N delays allows N + 1 attempts.  Attempts that stalled (the worker died) are not
failures: pass ``job.attempts - job.stalls``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

__all__ = ["DELIVERY", "FETCH", "TRANSCRIBE", "RetryPolicy", "Uniform"]

MINUTE = 60.0
HOUR = 60 * MINUTE


class Uniform(Protocol):
    """The part of :class:`random.Random` jitter needs; tests pass a seeded Random."""

    def uniform(self, a: float, b: float) -> float: ...


# Jitter only spreads retries out; it is not security-sensitive.
_RNG = random.Random()  # noqa: S311


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait ``delays[n - 1]`` seconds after failed attempt ``n``, ± ``jitter`` (a fraction).

    A server's ``Retry-After`` replaces the scheduled delay when it asks for longer, but
    never by more than ``retry_after_cap`` seconds, so one misbehaving server cannot park
    a job for days.  It does not add attempts: the schedule's length still decides when
    to give up.
    """

    delays: tuple[float, ...]
    jitter: float = 0.2
    retry_after_cap: float = HOUR

    def __post_init__(self) -> None:
        if any(delay < 0 for delay in self.delays):
            raise ValueError(f"retry delays must not be negative: {self.delays}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), not {self.jitter}")

    @property
    def max_attempts(self) -> int:
        """Attempts in all, the first one included."""
        return len(self.delays) + 1

    @property
    def total_delay(self) -> float:
        """Seconds from the first attempt to the last, before jitter."""
        return sum(self.delays)

    def next_delay(
        self, attempt: int, retry_after: float | None = None, rng: Uniform | None = None
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when attempts are exhausted."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        if attempt > len(self.delays):
            return None
        base = self.delays[attempt - 1]
        spread = (rng or _RNG).uniform(-self.jitter, self.jitter)
        delay = base * (1 + spread)
        if retry_after is not None:
            # The server's own minimum: jitter must not bring us in before it.
            delay = max(delay, min(max(retry_after, 0.0), self.retry_after_cap))
        return delay

    def next_run_at(
        self,
        attempt: int,
        now: datetime,
        retry_after: float | None = None,
        rng: Uniform | None = None,
    ) -> datetime | None:
        """:meth:`next_delay` as the ``run_at`` to hand to ``Store.retry``."""
        delay = self.next_delay(attempt, retry_after, rng)
        return None if delay is None else now + timedelta(seconds=delay)


# Svix's webhook schedule: after the immediate attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h
# and 10 h — 8 attempts over 27 h 35 min (±20 %), long enough to ride out a helpdesk's
# maintenance night or a weekend-morning outage, after which the delivery is DEAD and
# visible to the admin.  Sinks make the repeats harmless with the idempotency key.
DELIVERY = RetryPolicy(
    delays=(5.0, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR)
)

# A recording is often not there yet when the hang-up event arrives: Asterisk's
# MixMonitor finishes the file after the channel is gone, and cloud PBXs transcode and
# upload it seconds to minutes later (longer for long calls or under load).  Hence the
# dense start — most recordings appear within the first minute.  The tail (up to 8 h
# apart, ~16 h in all, 12 attempts) outlasts an overnight outage of the PBX's storage or
# of our own uplink: cloud PBXs keep recordings for days, and giving up loses the call's
# transcript, while an idle retry costs one request.  Errors that can never succeed
# (FetchError.retryable=False) are buried at once and do not wait for this schedule.
FETCH = RetryPolicy(
    delays=(
        10.0,
        30.0,
        1 * MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        30 * MINUTE,
        1 * HOUR,
        2 * HOUR,
        4 * HOUR,
        8 * HOUR,
    )
)

# Transcription runs locally: a retry helps only with passing trouble (memory pressure,
# a model file being replaced), which 30 s or 5 min cures; an unreadable recording
# fails the same way every time and is buried as an AudioError without retries.
TRANSCRIBE = RetryPolicy(delays=(30.0, 5 * MINUTE))
