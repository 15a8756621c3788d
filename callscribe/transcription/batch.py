"""Transcribe many recordings: decode ahead on worker threads, recognise in groups.

Decoding (file I/O, codecs, resampling) runs on a small thread pool while the engine
works on the previous group, and each group of calls is recognised in one
``Engine.transcribe_many`` so their speech windows share batches.  At most a few groups
are decoded ahead, which bounds memory however many files are given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from callscribe.domain import Transcript
from callscribe.errors import CallscribeError, TranscriptionError
from callscribe.transcription.audio import CallAudio
from callscribe.transcription.engine import Engine

Item = TypeVar("Item")

GROUP_AUDIO_SECONDS = 1200.0  # windows enough to fill batches; bounds the audio held in memory
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
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
        pending: list[tuple[Item, Future[tuple[CallAudio, float]]]] = []
        source = iter(items)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 2 * GROUP_MAX_CALLS:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, pool.submit(_timed, decode, item)))
            group, pending = _take_group(pending)
            yield from _recognise(engine, group)


def _timed(decode: Callable[[Item], CallAudio], item: Item) -> tuple[CallAudio, float]:
    started = time.perf_counter()
    try:
        audio = decode(item)
    except CallscribeError:
        raise
    except Exception as exc:  # a codec bug must cost one file, not the whole run
        raise TranscriptionError(f"{item}: could not be decoded ({exc!r})") from exc
    return audio, time.perf_counter() - started


def _take_group(
    pending: list[tuple[Item, Future[tuple[CallAudio, float]]]],
) -> tuple[
    list[tuple[Item, Future[tuple[CallAudio, float]]]],
    list[tuple[Item, Future[tuple[CallAudio, float]]]],
]:
    """Leading entries worth recognising together (waits for the first to decode)."""
    wait([future for _, future in pending[:GROUP_MAX_CALLS]], timeout=GROUP_WAIT_SECONDS)
    seconds = 0.0
    count = 0
    for _, future in pending:
        if count == GROUP_MAX_CALLS or seconds >= GROUP_AUDIO_SECONDS:
            break
        if count and not future.done():
            break  # don't hold the engine idle waiting for a slow decode
        with contextlib.suppress(CallscribeError):  # reported when the group is recognised
            seconds += future.result()[0].duration
        count += 1
    return pending[:count], pending[count:]


def _recognise(
    engine: Engine, group: Sequence[tuple[Item, Future[tuple[CallAudio, float]]]]
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
    yield from outcomes
