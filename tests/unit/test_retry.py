"""Retry policies: schedules, jitter bounds, Retry-After, giving up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from callscribe.retry import DELIVERY, FETCH, TRANSCRIBE, RetryPolicy


class Fixed:
    """An rng whose ``uniform`` always returns one end of the range (or the middle)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def uniform(self, a: float, b: float) -> float:
        return {"low": a, "high": b, "mid": (a + b) / 2}[self.where]


def test_delivery_is_the_svix_schedule() -> None:
    assert DELIVERY.delays == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert DELIVERY.max_attempts == 8
    assert DELIVERY.jitter == 0.2
    # 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h
    assert DELIVERY.total_delay == pytest.approx(27 * 3600 + 35 * 60 + 5)


def test_fetch_and_transcribe_presets() -> None:
    assert FETCH.delays[:3] == (10, 30, 60)
    assert list(FETCH.delays) == sorted(FETCH.delays)
    assert 12 * 3600 < FETCH.total_delay < 24 * 3600
    assert TRANSCRIBE.delays == (30, 300)
    assert TRANSCRIBE.max_attempts == 3


def test_schedule_without_jitter_is_exact() -> None:
    policy = RetryPolicy(delays=(1, 2, 3), jitter=0)
    assert [policy.next_delay(n) for n in (1, 2, 3, 4)] == [1, 2, 3, None]


@pytest.mark.parametrize("attempt", [8, 9, 100])
def test_delivery_gives_up_after_eight_attempts(attempt: int) -> None:
    assert DELIVERY.next_delay(attempt) is None
    assert DELIVERY.next_delay(7) is not None


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        DELIVERY.next_delay(0)


def test_jitter_stays_within_twenty_percent() -> None:
    rng = random.Random(7)
    delays = [DELIVERY.next_delay(3, rng=rng) for _ in range(2000)]
    assert all(d is not None and 1440 <= d <= 2160 for d in delays)
    # It really spreads: both halves of the range are used.
    assert min(d for d in delays if d) < 1500
    assert max(d for d in delays if d) > 2100
    assert DELIVERY.next_delay(3, rng=Fixed("low")) == pytest.approx(1440)
    assert DELIVERY.next_delay(3, rng=Fixed("high")) == pytest.approx(2160)


def test_retry_after_used_when_longer_than_the_schedule() -> None:
    assert DELIVERY.next_delay(1, retry_after=120, rng=Fixed("high")) == 120
    # Shorter than the scheduled delay: the schedule wins.
    assert DELIVERY.next_delay(2, retry_after=10, rng=Fixed("mid")) == pytest.approx(300)


def test_jitter_never_brings_a_retry_before_retry_after() -> None:
    # 300 s scheduled, server says 310 s, jitter could give 240..360.
    delay = DELIVERY.next_delay(2, retry_after=310, rng=Fixed("low"))
    assert delay == 310


def test_retry_after_is_capped() -> None:
    assert DELIVERY.next_delay(1, retry_after=7 * 86400, rng=Fixed("mid")) == 3600
    policy = RetryPolicy(delays=(1,), jitter=0, retry_after_cap=50)
    assert policy.next_delay(1, retry_after=1000) == 50
    assert policy.next_delay(1, retry_after=-5) == 1


def test_retry_after_does_not_add_attempts() -> None:
    assert TRANSCRIBE.next_delay(3, retry_after=60) is None


def test_next_run_at() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    policy = RetryPolicy(delays=(90,), jitter=0)
    assert policy.next_run_at(1, now) == now + timedelta(seconds=90)
    assert policy.next_run_at(2, now) is None


@pytest.mark.parametrize(("delays", "jitter"), [((-1.0,), 0.2), ((1.0,), 1.0), ((1.0,), -0.1)])
def test_invalid_policies_are_refused(delays: tuple[float, ...], jitter: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message varies by field)
        RetryPolicy(delays=delays, jitter=jitter)
