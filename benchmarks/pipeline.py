"""Daemon benchmark: does the whole pipeline keep up with the transcription engine?

Why: the service must overlap downloading, decoding and delivering with recognition, so
that a queue of calls moves at the speed of the model.  Measured side by side on this
machine, with the same calls:

- **transcription alone**: one ``Engine`` and ``transcribe_all`` over the files (the CLI's
  path), in this process;
- **whole pipeline**: ``callscribe run`` as a child process with a generic webhook source;
  all calls are posted at once, their recordings downloaded from a local web server,
  decoded, transcribed and delivered to a local helpdesk that honours idempotency keys.
  Wall time runs from the first webhook to the last ticket.

Then, on the idle daemon, **latency**: calls posted one at a time, each timed from its
webhook (the moment the PBX reports the call ended) to its ticket; p50 and p95.

    .venv/bin/python benchmarks/pipeline.py [--generate N | --calls DIR] [--repeats 3]
        [--latency-calls 10] [--postgresql]

``--postgresql`` runs the daemon on a private PostgreSQL server (started here, syncing
its WAL as production does) instead of its SQLite file: the store's cost in the pipeline.

Audio seconds per wall second are reported as medians over the repeats, alternating the
two configurations.  Nothing here is asserted; see docs/benchmarks.md for figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from _bench_corpus import SAMPLES, Call, generated, load_manifest, progress

from callscribe.config import TranscriptionSettings
from callscribe.testing import Daemon, FileServer, SinkServer, free_port, running, wait_for
from callscribe.testing_postgres import PostgresCluster
from callscribe.transcription.audio import decode_file
from callscribe.transcription.batch import transcribe_all
from callscribe.transcription.engine import Engine

TOKEN = "benchmark-token-0123456789"  # noqa: S105 - a local test server's token


def config(state: Path, port: int, files: FileServer, sink: SinkServer, store: str = "") -> str:
    return (
        store
        + f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[sources.pbx]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{files.port}]

[sinks.helpdesk]
type = "webhook"
url = "{sink.url}/calls"

[[routes]]
sinks = ["helpdesk"]
"""
    )


def alone(calls: Sequence[Call]) -> float:
    """Wall seconds for the CLI's path over all calls (model already loaded)."""
    engine = Engine(TranscriptionSettings())
    engine.transcribe(decode_file(calls[0].path))  # first use: VAD model, buffers
    started = time.perf_counter()
    for outcome in transcribe_all(engine, [c.path for c in calls], decode_file):
        if outcome.error:
            raise SystemExit(f"{outcome.item}: {outcome.error}")
    return time.perf_counter() - started


def post(daemon: Daemon, call_id: str, url: str) -> None:
    answer = httpx.post(
        f"{daemon.url}/hooks/pbx",
        json={"id": call_id, "recording_url": url},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    answer.raise_for_status()


def pipeline(
    daemon: Daemon, files: FileServer, sink: SinkServer, calls: Sequence[Call], run: int
) -> float:
    """Wall seconds from the first webhook to the last ticket for all calls at once."""
    ids = [f"run{run}-{call.name}" for call in calls]
    urls = [f"{files.url}/{call.path.name}" for call in calls]
    started = time.monotonic()
    with ThreadPoolExecutor(len(calls)) as pool:  # the PBX reports a burst of calls at once
        list(pool.map(lambda call_id, url: post(daemon, call_id, url), ids, urls))
    wait_for(lambda: all(sink.tickets_for(i) == 1 for i in ids), 3600, "every ticket")
    finished = max(
        sink.created[k] for k, t in sink.tickets.items() if t["call"]["external_id"] in ids
    )
    return finished - started


def latencies(
    daemon: Daemon, files: FileServer, sink: SinkServer, calls: Sequence[Call], count: int
) -> list[float]:
    """Seconds from webhook to ticket, one call at a time on an idle daemon."""
    seconds = []
    for number in range(count):
        call = calls[number % len(calls)]
        call_id = f"latency-{number}-{call.name}"
        started = time.monotonic()
        post(daemon, call_id, f"{files.url}/{call.path.name}")
        wait_for(lambda c=call_id: sink.tickets_for(c) == 1, 600, call_id)
        key = next(k for k, t in sink.tickets.items() if t["call"]["external_id"] == call_id)
        seconds.append(sink.created[key] - started)
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--calls", type=Path, default=SAMPLES, help="directory with manifest.json")
    source.add_argument("--generate", type=int, metavar="N", help="use N generated calls")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=10)
    parser.add_argument("--postgresql", action="store_true", help="the store on PostgreSQL")
    args = parser.parse_args(argv)
    folder = generated(args.generate, args.seed) if args.generate else args.calls
    calls = load_manifest(folder)
    audio = sum(decode_file(c.path).duration for c in calls)

    with tempfile.TemporaryDirectory(prefix="callscribe-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        store = ""
        if args.postgresql:
            cluster = PostgresCluster.start(durable=True)
            stack.callback(cluster.stop)
            (work / "pg").write_text(cluster.password)
            store = f'[store]\nurl = "{cluster.database()}"\npassword = "file:{work / "pg"}"\n'
            progress("store: PostgreSQL " + cluster.url())
        served = work / "served"
        served.mkdir()
        for call in calls:
            shutil.copy(call.path, served / call.path.name)
        files, sink = FileServer(served), SinkServer()
        port = free_port()
        (work / "c.toml").write_text(config(work / "state", port, files, sink, store), "utf-8")
        daemon = Daemon(work / "c.toml", port, work / "models", work / "daemon.log")
        alone_runs: list[float] = []
        pipeline_runs: list[float] = []
        with files, sink:
            for run in range(args.repeats):
                progress(f"repeat {run + 1}/{args.repeats}: transcription alone")
                alone_runs.append(alone(calls))
                progress(f"repeat {run + 1}/{args.repeats}: whole pipeline")
                with running(daemon):
                    pipeline_runs.append(pipeline(daemon, files, sink, calls, run))
            progress("latency on an idle daemon")
            with running(daemon):
                waits = latencies(daemon, files, sink, calls, args.latency_calls)

    alone_s, pipeline_s = statistics.median(alone_runs), statistics.median(pipeline_runs)
    print(f"{len(calls)} calls, {audio:.1f} s of audio, median of {args.repeats} repeats")
    print(f"{'':22}{'wall s':>8}{'audio s / wall s':>18}")
    print(f"{'transcription alone':22}{alone_s:8.1f}{audio / alone_s:18.1f}")
    print(f"{'whole pipeline':22}{pipeline_s:8.1f}{audio / pipeline_s:18.1f}")
    print(f"pipeline overhead: {(pipeline_s / alone_s - 1) * 100:+.1f} %")
    waits.sort()
    p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
    print(
        f"call end to delivery, one call at a time ({len(waits)} calls): "
        f"p50 {statistics.median(waits):.1f} s, p95 {p95:.1f} s, max {waits[-1]:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
