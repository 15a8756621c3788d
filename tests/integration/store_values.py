"""Values and helpers the store tests share: a clock the test moves, call events, a
transcript, and threads that start together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

from callscribe.domain import (
    CallEvent,
    Direction,
    Recording,
    RecordingRef,
    Segment,
    Speaker,
    Timings,
    Transcript,
)
from callscribe.store.base import Job

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))
T = TypeVar("T")


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def event(n: int | str, *, recorded: bool = True, source: str = "asterisk") -> CallEvent:
    return CallEvent(
        source=source,
        external_id=f"call-{n}",
        direction=Direction.INBOUND,
        started_at=datetime(2024, 5, 1, 14, 59, 0, tzinfo=MSK),
        answered_at=datetime(2024, 5, 1, 14, 59, 5, tzinfo=MSK) if recorded else None,
        ended_at=datetime(2024, 5, 1, 15, 2, 30, 250000, tzinfo=MSK),
        client_number="+79001234567",
        line_number="+74950000000",
        operator_id="101",
        operator_name="Анна Петрова",
        recordings=(
            (RecordingRef("https://pbx.example/rec/1.wav", (Speaker.CLIENT, Speaker.OPERATOR)),)
            if recorded
            else ()
        ),
        raw={"uniqueid": f"1714.{n}", "nested": {"list": [1, 2.5, None, "да"]}, "ok": True},
    )


TRANSCRIPT = Transcript(
    segments=(
        Segment(Speaker.OPERATOR, 0.0, 1.5, "Здравствуйте, компания «Ромашка».", -0.21, 0.01),
        Segment(Speaker.CLIENT, 1.8, 4.25, "Добрый день, у меня вопрос.", -0.35, 0.02),
    ),
    duration=5.0,
    language="ru",
    model="base",
    dropped_hallucinations=1,
    timings=Timings(decode=0.25, vad=0.125, recognition=2.5),
)


def recording_for(job: Job, clock: FakeClock) -> Recording:
    return Recording(
        job.call_id, f"/var/lib/callscribe/{job.call_id}.wav", 1234, "ab" * 32, clock()
    )


def parallel(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(0..n-1) on n threads that start together; re-raise their errors."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))
