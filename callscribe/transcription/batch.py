"""Transcribe many recordings: decode ahead on worker threads, recognise in groups.

Decoding (file I/O, codecs, resampling) runs on a small thread pool while the engine
works on the previous group, and each group of calls is recognised in one
``Engine.transcribe_many`` so their speech windows share batches.  Decoded audio is held
up to a budget of seconds, which bounds memory however many and however long the files
are: a minute of a stereo call takes about 8 MB once decoded.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from callscribe.domain import Transcript
from callscribe.errors import CallscribeError, TranscriptionError
from callscribe.transcription.audio import CallAudio
from callscribe.transcription.engine import Engine

Item = TypeVar("Item")

# Windows enough to fill batches: thirty generated calls (4,625 s) in groups of 600, 900 or
# 1,200 s took 115.1, 115.3 and 115.7 s on the Intel host (batches of two).  Groups of 600 s
# split six calls (778 s) in two, which with the AMD host's batches of six was 6 % slower.
GROUP_AUDIO_SECONDS = 900.0
# Decoded audio held at once, the group being recognised included: a decode waits for room
# before it starts.  Unbounded, 32 files were decoded ahead and the thirty calls peaked at
# 1,323 MB; with one group's worth of 1,200 s at 909-925 MB, of 900 s at 866 MB, at the same
# speed (a group's files decode in about a second, against half a minute to recognise).
HELD_AUDIO_SECONDS = GROUP_AUDIO_SECONDS
GROUP_MAX_CALLS = 16
DECODE_THREADS = 2
# Files decode in tens of milliseconds while a group takes seconds to recognise, and a call
# left out of a group is recognised alone afterwards (on the shared samples that cost 40 %
# more time); so a group waits this long for decodes still running, but no longer, so one
# huge file cannot keep the engine idle.
GROUP_WAIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Outcome(Generic[Item]):
    """The result for one input: a transcript, or the error that stopped it."""

    item: Item
    transcript: Transcript | None = None
    error: CallscribeError | None = None


def transcribe_all(
    engine: Engine,
    items: Iterable[Item],
    decode: Callable[[Item], CallAudio],
) -> Iterator[Outcome[Item]]:
    """Outcomes in input order; one bad recording never stops the others."""
    budget = AudioBudget(HELD_AUDIO_SECONDS)
    pending: list[tuple[Item, Future[tuple[CallAudio, float]]]] = []
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
        try:
            source = iter(items)
            exhausted = False
            submitted = 0
            while pending or not exhausted:
                while not exhausted and len(pending) < 2 * GROUP_MAX_CALLS:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    future = pool.submit(_timed, decode, item, budget, submitted)
                    pending.append((item, future))
                    submitted += 1
                group, pending = _take_group(pending, budget)
                yield from _recognise(engine, group, budget)
        finally:  # stopped early (an error, Ctrl-C): no decode may wait for the engine now
            for _, future in pending:
                future.cancel()
            budget.lift()


class AudioBudget:
    """Seconds of decoded audio held, against a limit that decodes wait for.

    Decodes start in input order (each has its ticket), and only while the held audio is
    under the limit, so it is passed by at most the calls already decoding.  In order,
    because the engine consumes calls in order: a later call must not take the room the
    call it waits for needs.  With nothing held a decode always starts, so one call
    longer than the limit still goes through.
    """

    def __init__(self, limit_seconds: float) -> None:
        self._limit = limit_seconds
        self._held = 0.0
        self._next_ticket = 0
        self._lifted = False
        self._changed = threading.Condition()

    @property
    def held(self) -> float:
        return self._held

    @property
    def is_full(self) -> bool:
        return self._held >= self._limit

    def wait_for_room(self, ticket: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: self._lifted or (ticket == self._next_ticket and not self.is_full)
            )
            self._next_ticket = max(self._next_ticket, ticket + 1)
            self._changed.notify_all()

    def hold(self, seconds: float) -> None:
        with self._changed:
            self._held += seconds

    def release(self, seconds: float) -> None:
        with self._changed:
            self._held = max(0.0, self._held - seconds)
            self._changed.notify_all()

    def lift(self) -> None:
        """No more waiting: nobody will release what is held."""
        with self._changed:
            self._lifted = True
            self._changed.notify_all()


def _timed(
    decode: Callable[[Item], CallAudio], item: Item, budget: AudioBudget, ticket: int
) -> tuple[CallAudio, float]:
    budget.wait_for_room(ticket)
    started = time.perf_counter()
    try:
        audio = decode(item)
    except CallscribeError:
        raise
    except Exception as exc:  # a codec bug must cost one file, not the whole run
        raise TranscriptionError(f"{item}: could not be decoded ({exc!r})") from exc
    budget.hold(audio.duration)
    return audio, time.perf_counter() - started


def _take_group(
    pending: list[tuple[Item, Future[tuple[CallAudio, float]]]], budget: AudioBudget
) -> tuple[
    list[tuple[Item, Future[tuple[CallAudio, float]]]],
    list[tuple[Item, Future[tuple[CallAudio, float]]]],
]:
    """Leading entries worth recognising together (waits for the first to decode)."""
    _wait_for_a_group(pending, budget)
    if pending:
        wait([pending[0][1]])  # the first is recognised however slow its decode
    # The rest only as far as they are decoded: the engine is not held idle by a slow one.
    count, _ = _decoded_lead(pending)
    return pending[:count], pending[count:]


def _wait_for_a_group(
    pending: Sequence[tuple[Item, Future[tuple[CallAudio, float]]]], budget: AudioBudget
) -> None:
    """Up to GROUP_WAIT_SECONDS for the leading decodes to make a whole group, but not once
    the budget keeps further decodes from starting: nothing more would come."""
    deadline = time.monotonic() + GROUP_WAIT_SECONDS
    while not _decoded_lead(pending)[1] and not budget.is_full:
        decoding = [future for _, future in pending[:GROUP_MAX_CALLS] if not future.done()]
        left = deadline - time.monotonic()
        if not decoding or left <= 0:
            return
        wait(decoding, timeout=left, return_when=FIRST_COMPLETED)


def _decoded_lead(
    pending: Sequence[tuple[Item, Future[tuple[CallAudio, float]]]],
) -> tuple[int, bool]:
    """How many leading entries are decoded, up to one group, and whether they make one
    (a failed decode counts, with no audio: it is reported when its group is recognised)."""
    seconds = 0.0
    for count, (_, future) in enumerate(pending):
        if count == GROUP_MAX_CALLS or seconds >= GROUP_AUDIO_SECONDS:
            return count, True
        if not future.done():
            return count, False
        if future.exception() is None:
            seconds += future.result()[0].duration
    return len(pending), True  # everything given is decoded


def _recognise(
    engine: Engine,
    group: Sequence[tuple[Item, Future[tuple[CallAudio, float]]]],
    budget: AudioBudget,
) -> Iterator[Outcome[Item]]:
    decoded: list[tuple[int, CallAudio, float]] = []
    outcomes: list[Outcome[Item]] = [Outcome(item) for item, _ in group]
    for index, (item, future) in enumerate(group):
        try:
            audio, seconds = future.result()
        except CallscribeError as exc:
            outcomes[index] = Outcome(item, error=exc)
        else:
            decoded.append((index, audio, seconds))
    if decoded:
        try:
            transcripts = engine.transcribe_many([audio for _, audio, _ in decoded])
        except CallscribeError as exc:
            transcripts = None
            for index, _, _ in decoded:
                outcomes[index] = Outcome(group[index][0], error=exc)
        if transcripts is not None:
            for (index, _, seconds), transcript in zip(decoded, transcripts, strict=True):
                timings = dataclasses.replace(transcript.timings, decode=round(seconds, 3))
                outcomes[index] = Outcome(
                    group[index][0], transcript=dataclasses.replace(transcript, timings=timings)
                )
        budget.release(sum(audio.duration for _, audio, _ in decoded))
    yield from outcomes
