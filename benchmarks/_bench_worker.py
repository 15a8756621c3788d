"""One configuration of ``benchmarks/stt.py``, loaded once and serving requests.

Run as ``python benchmarks/_bench_worker.py {naive|callscribe} THREADS``.  Each configuration
lives in its own process so its peak RSS and model load time are its own, and so the two
never share a CPU: the driver sends one request and waits for the reply before the next.

Protocol: one JSON object per line.  On start the worker loads its model and says
``{"ready": true, "load_seconds": ...}``; then it answers requests on stdin
(``batch``, ``single``, ``stats``, ``quit``) on the stdout it was started with.
Library output that would land on stdout is sent to stderr instead, so it cannot corrupt
a reply.  Every timed step starts from the file on disk: decoding is part of the work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import numpy as np
from faster_whisper import WhisperModel

from callscribe.transcription.audio import AudioLimits, CallAudio, decode_file
from callscribe.transcription.models import resolve_model

if TYPE_CHECKING:
    from callscribe.domain import Transcript

Reply = dict[str, Any]


class Runner(Protocol):
    load_seconds: float
    setup: str  # what it runs with, for the report

    def batch(self, paths: list[Path]) -> Reply: ...
    def single(self, path: Path) -> Reply: ...


class NaiveRunner:
    """What a user writes by hand: stock ``WhisperModel.transcribe`` on the mono mix."""

    def __init__(self, threads: int) -> None:
        path = resolve_model("base")  # the very files the Engine loads
        started = time.perf_counter()
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        self.load_seconds = time.perf_counter() - started
        self.setup = "transcribe() defaults on the mono mix (beam 5, temperature fallback)"

    def single(self, path: Path) -> Reply:
        started = time.perf_counter()
        audio = decode_file(path)
        # Every default: beam 5, no VAD, language detected, temperature fallback,
        # condition_on_previous_text.  The generator does the work, so it is consumed.
        segments, info = self.model.transcribe(_mono(audio))
        found = [["unknown", s.start, s.end, s.text] for s in segments]
        return {
            "duration": audio.duration,
            "wall": time.perf_counter() - started,
            "language": info.language,
            "segments": found,
        }

    def batch(self, paths: list[Path]) -> Reply:
        # Naive code has no batch mode: calls go one after another, each timed alone.
        started = time.perf_counter()
        calls = [self.single(path) for path in paths]
        return {"wall": time.perf_counter() - started, "calls": calls}


class CallscribeRunner:
    """The CLI's path: one Engine, ``transcribe_all`` decoding ahead and batching calls."""

    def __init__(self, threads: int) -> None:
        # Imported here so the naive worker's peak RSS holds none of callscribe's engine.
        from callscribe.config import TranscriptionSettings  # noqa: PLC0415
        from callscribe.transcription.engine import Engine  # noqa: PLC0415

        # The same number of threads as naive, spent callscribe's way: that many model
        # workers of one thread each (its default on a machine with that many cores).
        # Settings changed from stt.py's command line (--set), as JSON.
        changed = json.loads(os.environ.get("CALLSCRIBE_BENCH_SETTINGS", "{}"))
        self.settings = TranscriptionSettings(workers=threads, cpu_threads=1, **changed)
        self.limits = AudioLimits(self.settings.max_duration_seconds, self.settings.max_file_bytes)
        started = time.perf_counter()
        self.engine = Engine(self.settings)
        self.load_seconds = time.perf_counter() - started
        self.setup = (
            f"encoder {self.engine.encoder}, decoder batches of {self.engine.batch_size}, "
            f"vocabulary {self.engine.vocabulary}, beam {self.settings.beam_size}"
        )

    def decode(self, path: Path) -> CallAudio:
        return decode_file(path, channels=self.settings.channels, limits=self.limits)

    def single(self, path: Path) -> Reply:
        started = time.perf_counter()
        transcript = self.engine.transcribe(self.decode(path))
        return _reply(transcript, time.perf_counter() - started)

    def batch(self, paths: list[Path]) -> Reply:
        from callscribe.transcription.batch import transcribe_all  # noqa: PLC0415

        started = time.perf_counter()
        outcomes = list(transcribe_all(self.engine, paths, self.decode))
        wall = time.perf_counter() - started
        calls = []
        for outcome in outcomes:
            if outcome.transcript is None:
                raise RuntimeError(f"{outcome.item}: {outcome.error}")
            calls.append(_reply(outcome.transcript, None))  # one wall time for the whole batch
        return {"wall": wall, "calls": calls}


def _mono(audio: CallAudio) -> np.ndarray[Any, np.dtype[np.float32]]:
    # The mean of the sides is what a mono mix is; one track (mono file) stays as it is.
    stacked = np.stack([track.samples for track in audio.tracks])
    mono: np.ndarray[Any, np.dtype[np.float32]] = stacked.mean(axis=0, dtype=np.float32)
    return mono


def _reply(transcript: Transcript, wall: float | None) -> Reply:
    return {
        "duration": transcript.duration,
        "wall": wall,
        "language": transcript.language,
        "segments": [[s.speaker.value, s.start, s.end, s.text] for s in transcript.segments],
        # callscribe's own split of its time (decode is set only by transcribe_all).
        "timings": dataclasses.asdict(transcript.timings),
    }


def _handle(runner: Runner, request: Reply) -> Reply:
    op = request["op"]
    if op == "batch":
        return runner.batch([Path(p) for p in request["paths"]])
    if op == "single":
        return runner.single(Path(request["path"]))
    if op == "stats":
        # Linux reports ru_maxrss in KiB; it is the peak of this process's whole life.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"peak_rss_mb": peak, "setup": runner.setup}
    raise ValueError(f"unknown request {op!r}")


def _serve(runner: Runner, replies: TextIO) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            return
        try:
            cpu = time.process_time()
            reply = _handle(runner, request)
            # All threads of this process; the driver subtracts it from the machine's busy
            # time to see how much CPU other processes took during the request.
            reply["cpu_seconds"] = time.process_time() - cpu
        except Exception as exc:  # reported to the driver, which stops the run
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply, ensure_ascii=False) + "\n")
        replies.flush()


def main() -> int:
    config, threads = sys.argv[1], int(sys.argv[2])
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints now go to stderr, never into the reply stream
    runners: dict[str, Callable[[int], Runner]] = {
        "naive": NaiveRunner,
        "callscribe": CallscribeRunner,
    }
    runner: Runner = runners[config](threads)
    replies.write(json.dumps({"ready": True, "load_seconds": runner.load_seconds}) + "\n")
    replies.flush()
    _serve(runner, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
