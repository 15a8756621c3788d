"""Speech-to-text benchmark: callscribe against the faster-whisper code a user writes by hand.

Why: callscribe's claim is that splitting the stereo sides, cutting out silence with VAD,
packing speech into unpadded windows and decoding calls in batches is faster *and* no less
accurate than the obvious code.  This measures both sides of that claim on calls with exact
ground truth, on this machine.

Two configurations, the same model files (callscribe's bundled ``base``), the same threads:

- **naive**: ``WhisperModel(base, device="cpu", compute_type="int8", cpu_threads=N)``, then
  for each call ``model.transcribe(mono_mix)`` with every default (beam 5, no VAD, language
  detected, temperature fallback, conditioning on previous text), one call after another;
- **callscribe**: one ``Engine`` with N model workers of one thread each (its default on an
  N-core machine), and ``transcribe_all`` over all the calls, as the CLI runs.

Both decode each file with callscribe's ``decode_file`` inside the timed work.  Each runs in its
own long-lived process (``_bench_worker.py``), so model load time and peak RSS are its own;
the driver asks one, then the other (naive, callscribe, naive, ...), never both at once, and
reports medians over ``--repeats``.  Each worker first transcribes one call untimed, so
first-use costs (VAD model, buffers) stay out of repeat 1.  Single-call latency is each call
transcribed alone; naive has no batch mode, so the per-call times of its run are its
single-call latencies.  The machine may be shared, so the CPU time other processes took while
a configuration was timed is measured and reported with the results.

    .venv/bin/python benchmarks/stt.py [--repeats 3] [--threads N] [--calls DIR | --generate N]
        [--markdown FILE] [--json FILE] [AUDIO ...]

Accuracy (WER, CER, per-speaker WER, attribution, words in silence) needs ground truth in the
manifest format of ``tests/data/samples/manifest.json``; plain audio files print "-" there.
Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from _bench_corpus import HERE, SAMPLES, Call, generated, load_manifest, plain_files, progress
from _bench_report import (
    ConfigRun,
    contention,
    disturbed,
    machine,
    render_markdown,
    render_text,
    tables,
)
from _bench_score import Said, score_call

CONFIGS = ("naive", "callscribe")  # the order they are asked in, every repeat

Reply = dict[str, Any]


def corpus(args: argparse.Namespace) -> list[Call]:
    if args.files:
        return plain_files(args.files)
    if args.generate:
        return load_manifest(generated(args.generate, args.seed))
    return load_manifest(args.calls or SAMPLES)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="audio files without ground truth")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--calls", type=Path, help=f"directory with manifest.json ({SAMPLES})")
    source.add_argument("--generate", type=int, metavar="N", help="use N generated calls")
    parser.add_argument("--seed", type=int, default=1, help="seed for --generate (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [transcription] setting for callscribe, e.g. --set vocabulary=full",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write Markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="raw per-repeat numbers")
    args = parser.parse_args(argv)
    if args.files and (args.calls or args.generate):
        parser.error("give audio files or --calls/--generate, not both")
    if args.repeats < 1 or args.threads < 1 or (args.generate is not None and args.generate < 1):
        parser.error("--repeats, --threads and --generate must be at least 1")
    return args


class Worker:
    """One configuration's process; requests and replies are JSON lines over pipes."""

    def __init__(self, config: str, threads: int) -> None:
        self.config = config
        command = [sys.executable, str(HERE / "_bench_worker.py"), config, str(threads)]
        self._process = subprocess.Popen(  # noqa: S603 - our own worker script
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self.load_seconds: float = self._read()["load_seconds"]

    def ask(self, op: str, **fields: Any) -> Reply:
        """The reply, with ``other_cpu``: (CPU s other processes took meanwhile, elapsed s)."""
        stdin = self._pipe(self._process.stdin)
        busy, started = machine_busy_seconds(), time.perf_counter()
        stdin.write(json.dumps({"op": op, **fields}) + "\n")
        stdin.flush()
        reply = self._read()
        # /proc/stat is sampled on the timer tick and misses some of the worker's short
        # thread wake-ups, so on a quiet machine this comes out a few % of the worker's CPU
        # below zero.  Kept signed, so the sum over the run stays unbiased by clamping.
        other = machine_busy_seconds() - busy - reply["cpu_seconds"]
        reply["other_cpu"] = (other, time.perf_counter() - started)
        return reply

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self.ask_quit()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def ask_quit(self) -> None:
        stdin = self._pipe(self._process.stdin)
        stdin.write(json.dumps({"op": "quit"}) + "\n")
        stdin.close()

    def _read(self) -> Reply:
        line = self._pipe(self._process.stdout).readline()
        if not line:
            code = self._process.wait()
            raise RuntimeError(f"the {self.config} worker exited with code {code} (see stderr)")
        reply: Reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.config} worker: {reply['error']}")
        return reply

    @staticmethod
    def _pipe(stream: IO[str] | None) -> IO[str]:
        if stream is None:
            raise RuntimeError("worker pipe is closed")
        return stream


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot, stolen time included."""
    # The machine is shared: this is how the report knows whether anything else ran.
    fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
    # user nice system idle iowait irq softirq steal: all but idle and iowait is work.
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def workers(threads: int) -> Iterator[dict[str, Worker]]:
    """Both workers, started one after the other so their model loads do not overlap."""
    started: dict[str, Worker] = {}
    try:
        for config in CONFIGS:
            progress(f"loading {config} ({threads} threads)")
            started[config] = Worker(config, threads)
        yield started
    finally:
        for worker in started.values():
            worker.close()


def record(run: ConfigRun, calls: list[Call], results: list[Reply], *, batch: bool) -> None:
    """Keep per-call durations and walls; of a batch run also accuracy, segments, timings.

    Single-call runs only give latencies: the accuracy reported is that of the batch path.
    """
    for call, result in zip(calls, results, strict=True):
        run.durations[call.name] = result["duration"]
        if result["wall"] is not None:  # callscribe's batch has one wall for all calls
            run.single_walls.setdefault(call.name, []).append(result["wall"])
    if not batch:
        return
    pairs = list(zip(calls, results, strict=True))
    speakers = run.name != "naive"
    run.scores.append(
        {
            call.name: score_call(call.turns, tuple(Said(*s) for s in r["segments"]), speakers)
            for call, r in pairs
            if call.turns is not None
        }
    )
    run.segments = {call.name: r["segments"] for call, r in pairs}
    if timings := {call.name: r["timings"] for call, r in pairs if "timings" in r}:
        run.timings.append(timings)


def measure(calls: list[Call], pool: dict[str, Worker], repeats: int) -> dict[str, ConfigRun]:
    runs = {name: ConfigRun(name, load_seconds=w.load_seconds) for name, w in pool.items()}
    paths = [str(call.path) for call in calls]
    # One whole call first, so first-use costs (VAD model, buffers) miss repeat 1; the
    # smallest file, because naive takes a sixth or so of the audio's length on it.
    warmup = min(calls, key=lambda call: call.path.stat().st_size)
    for name, worker in pool.items():
        progress(f"warming up {name} on {warmup.name}")
        runs[name].warmup_seconds = worker.ask("single", path=str(warmup.path))["wall"]
    for repeat in range(1, repeats + 1):
        for name in CONFIGS:
            progress(f"repeat {repeat}/{repeats}: {name}, {len(calls)} calls")
            reply = pool[name].ask("batch", paths=paths)
            runs[name].batch_walls.append(reply["wall"])
            runs[name].other_cpu.append(reply["other_cpu"])
            record(runs[name], calls, reply["calls"], batch=True)
            progress(f"repeat {repeat}/{repeats}: {name} took {reply['wall']:.1f} s")
        # The naive batch already timed each call alone; callscribe's batch did not.
        progress(f"repeat {repeat}/{repeats}: callscribe, each call alone")
        single = [pool["callscribe"].ask("single", path=p) for p in paths]
        runs["callscribe"].other_cpu += [reply["other_cpu"] for reply in single]
        record(runs["callscribe"], calls, single, batch=False)
    for name, worker in pool.items():
        stats = worker.ask("stats")
        runs[name].peak_rss_mb = stats["peak_rss_mb"]
        runs[name].setup = stats["setup"]
    return runs


def write_json(path: Path, calls: list[Call], runs: dict[str, ConfigRun], info: list[str]) -> None:
    raw = {
        "command": sys.orig_argv,
        "machine": info,
        "calls": [{"name": c.name, "path": str(c.path), "truth": bool(c.turns)} for c in calls],
        "configs": {name: asdict(run) for name, run in runs.items()},
    }
    path.write_text(json.dumps(raw, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    calls = corpus(args)
    progress(f"{len(calls)} calls, {args.repeats} repeats, {args.threads} threads")
    changed = dict(item.split("=", 1) for item in args.set)
    os.environ["CALLSCRIBE_BENCH_SETTINGS"] = json.dumps(changed)  # read by callscribe's worker
    try:
        with workers(args.threads) as pool:
            runs = measure(calls, pool, args.repeats)
    except RuntimeError as exc:  # a worker failed or died; its own traceback is above
        progress(f"error: {exc}")
        return 1
    info = [
        machine(args.threads),
        *(f"{name}: {run.setup}" for name, run in runs.items()),
        contention(runs),
    ]
    if disturbed(runs):
        progress("WARNING: other processes used the CPU during the run; see the last line")
    results = tables(runs)
    sys.stdout.write(render_text(results, info))
    if args.markdown:
        command = shlex.join(sys.orig_argv)
        args.markdown.write_text(render_markdown(results, info, command), encoding="utf-8")
    if args.json:
        write_json(args.json, calls, runs, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
