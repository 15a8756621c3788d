"""How many webhooks a second callscribe takes and stores durably, and how fast it answers,
while transcription keeps both cores busy; then a soak at steady traffic.

    .venv/bin/python benchmarks/ingest.py                      # 30 s at full speed, 30 s at 1000/s
    .venv/bin/python benchmarks/ingest.py --soak 1800 --soak-rate 200   # plus a 30-minute soak
    .venv/bin/python benchmarks/ingest.py --no-transcribe      # the same on an idle machine

Everything runs on 127.0.0.1: ``callscribe run`` as a child process (SQLite with
synchronous=FULL in a temporary folder, generic webhook sources, a JSONL archive), a file
server with a 39-second sample call, and the load generator in this process: raw HTTP/1.1
on keep-alive connections, each request written out in advance.  Every webhook is a
missed call (no recording), routed to the archive, so each acknowledged one is a stored
call and a queued delivery; the feeder meanwhile posts recorded calls to another source so
that the transcription queue never empties.

- **full speed**: ``--connections`` connections send as fast as they are answered;
- **fixed rate**: requests leave on a fixed schedule (``--rate`` a second) whatever the
  answers do, and latency is counted from the scheduled moment, so a stall shows up in the
  percentiles instead of slowing the sender down;
- then every acknowledged webhook is looked for in the database (``stored``: must equal
  ``acknowledged``);
- **soak**: ``--soak`` seconds at ``--soak-rate``, with the daemon's resident memory
  (its decoder processes included) and open files sampled every 10 s.

The daemon's CPU time (its threads and its decoder processes) over each phase says whether
transcription really held both cores (200 % = two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe.testing import Daemon, FileServer, free_port
from tests.samples import SAMPLES

TOKEN = "ingest-benchmark-token-0123456789"  # noqa: S105 - a local test server's token
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def config(state: Path, port: int, files: FileServer) -> str:
    return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[sources.load]
type = "generic"
token = "{TOKEN}"

[sources.feed]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{files.port}]

[sinks.archive]
type = "jsonl"
path = "{state / "archive.jsonl"}"

[[routes]]
sinks = ["archive"]
calls = "all"
"""


# --- the daemon's resources, from /proc ---------------------------------------------------


def family(pid: int) -> list[int]:
    """The daemon and its child processes (decoders, the resource tracker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def rss_bytes(pid: int) -> int:
    total = 0
    for member in family(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the load ------------------------------------------------------------------------------


def request(port: int, call_id: str) -> bytes:
    body = json.dumps(
        {"id": call_id, "direction": "inbound", "client_number": "+79990000000",
         "started_at": "2026-11-21T10:00:00+03:00", "ended_at": "2026-11-21T10:00:30+03:00"}
    ).encode()  # fmt: skip
    head = (
        f"POST /hooks/load HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    sent: int = 0
    acknowledged: list[str] = field(default_factory=list)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0  # the daemon's CPU seconds in the phase

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

        return {
            "phase": self.name,
            "seconds": round(self.seconds, 1),
            "sent": self.sent,
            "acknowledged": len(self.acknowledged),
            "errors": self.errors,
            "acknowledged per second": round(len(self.acknowledged) / self.seconds, 1),
            "latency p50 ms": pct(0.50) if ordered else None,
            "latency p99 ms": pct(0.99) if ordered else None,
            "latency max ms": round(1000 * ordered[-1], 2) if ordered else None,
            "daemon CPU %": round(100 * self.cpu / self.seconds),
        }


class Load:
    def __init__(self, port: int, prefix: str) -> None:
        self.port = port
        self.prefix = prefix
        self.count = 0

    def next(self) -> tuple[str, bytes]:
        self.count += 1
        call_id = f"{self.prefix}-{self.count}"
        return call_id, request(self.port, call_id)

    async def full_speed(self, phase: Phase, connections: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                while time.monotonic() < deadline:
                    call_id, data = self.next()
                    started = time.perf_counter()
                    phase.sent += 1
                    status = await exchange(reader, writer, data)
                    phase.latencies.append(time.perf_counter() - started)
                    if status == 200:
                        phase.acknowledged.append(call_id)
                    else:
                        phase.errors += 1
            finally:
                writer.close()

        await asyncio.gather(*(worker() for _ in range(connections)))

    async def fixed_rate(
        self, phase: Phase, rate: float, seconds: float, pool: int, most: int = 256
    ) -> None:
        """Open loop: request i is due at start + i/rate and goes on a free connection
        (more are opened while all are busy, up to ``most``, as a sender with many calls
        would; then it waits for one).  Its latency counts from when it was due."""
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        opened = []
        for _ in range(pool):
            pair = await asyncio.open_connection("127.0.0.1", self.port)
            opened.append(pair)
            idle.put_nowait(pair)
        start = time.perf_counter()
        total = int(rate * seconds)
        tasks = []

        async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if idle.empty() and len(opened) < most:
                opened.append(await asyncio.open_connection("127.0.0.1", self.port))
                return opened[-1]
            return await idle.get()

        async def one(due: float) -> None:
            call_id, data = self.next()
            pair = await connection()
            phase.sent += 1
            try:
                status = await exchange(*pair, data)
            except (OSError, asyncio.IncompleteReadError):
                phase.errors += 1
                opened.remove(pair)  # broken: the next request opens another
                return
            phase.latencies.append(time.perf_counter() - due)
            idle.put_nowait(pair)
            if status == 200:
                phase.acknowledged.append(call_id)
            else:
                phase.errors += 1

        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        for _, writer in opened:
            writer.close()


def run_phase(name: str, daemon: Daemon, work: Any) -> Phase:
    phase = Phase(name)
    cpu = cpu_seconds(daemon.pid())
    started = time.monotonic()
    asyncio.run(work(phase))
    phase.seconds = time.monotonic() - started
    phase.cpu = cpu_seconds(daemon.pid()) - cpu
    return phase


# --- transcription kept busy -----------------------------------------------------------


class Feeder(threading.Thread):
    """Keeps recorded calls queued for transcription: posts another 39-second call
    whenever fewer than ``depth`` wait."""

    def __init__(self, daemon: Daemon, files: FileServer, database: Path, depth: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{daemon.url}/hooks/feed"
        self.recording = f"{files.url}/long.wav"
        self.database = database
        self.depth = depth
        self.posted = 0
        self.failed = 0
        self.halt = threading.Event()

    def waiting(self) -> int:
        with sqlite3.connect(self.database, timeout=30) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM jobs WHERE kind IN ('fetch', 'transcribe')"
                " AND state IN ('queued', 'running')"
            ).fetchone()
            return int(count)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.halt.is_set():
                for _ in range(max(0, self.depth - self.waiting())):
                    self.posted += 1
                    try:
                        client.post(
                            self.url,
                            json={"id": f"feed-{self.posted}", "recording_url": self.recording},
                            headers={"authorization": f"Bearer {TOKEN}"},
                        )
                    except httpx.HTTPError as exc:  # counted; the queue is refilled next round
                        self.failed += 1
                        print(f"feeder: {exc!r}", file=sys.stderr, flush=True)
                self.halt.wait(1.0)


def stored(database: Path, ids: list[str]) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        db.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((i,) for i in ids))
        (count,) = db.execute(
            "SELECT count(*) FROM calls JOIN wanted ON calls.external_id = wanted.id"
            " WHERE calls.source = 'load'"
        ).fetchone()
        return int(count)


def soak(daemon: Daemon, load: Load, seconds: float, rate: float) -> dict[str, Any]:
    """Steady traffic in 10-second steps; memory and open files after each."""
    samples = []
    acknowledged = errors = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        phase = run_phase("soak", daemon, lambda p: load.fixed_rate(p, rate, 10.0, 16))
        acknowledged += len(phase.acknowledged)
        errors += phase.errors
        pid = daemon.pid()
        samples.append(
            {"t": round(time.monotonic() - started), "rss_mb": round(rss_bytes(pid) / 2**20, 1),
             "open_files": open_files(pid), "p99_ms": phase.summary()["latency p99 ms"]}
        )  # fmt: skip
        print(f"soak {samples[-1]}", flush=True)
    tenth = max(1, len(samples) // 10)
    first, last = samples[:tenth], samples[-tenth:]
    return {
        "seconds": round(time.monotonic() - started),
        "rate": rate,
        "acknowledged": acknowledged,
        "errors": errors,
        "rss_mb first tenth (mean)": round(statistics.mean(s["rss_mb"] for s in first), 1),
        "rss_mb last tenth (mean)": round(statistics.mean(s["rss_mb"] for s in last), 1),
        "rss_mb max": max(s["rss_mb"] for s in samples),
        "open files first / last / max": (
            samples[0]["open_files"],
            samples[-1]["open_files"],
            max(s["open_files"] for s in samples),
        ),
        "p99 ms worst 10 s": max(s["p99_ms"] or 0 for s in samples),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=32, help="for the full-speed phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="for the fixed-rate phase")
    parser.add_argument("--no-transcribe", dest="transcribe", action="store_false")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (0: none)")
    parser.add_argument("--soak-rate", type=float, default=200.0)
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="callscribe-ingest-"))
    (work / "served").mkdir()
    shutil.copy(SAMPLES / "call-public-00.wav", work / "served" / "long.wav")
    results: dict[str, Any] = {"transcribing": args.transcribe, "cores": os.cpu_count()}
    files = FileServer(work / "served")
    with files:
        port = free_port()
        state = work / "state"
        (work / "c.toml").write_text(config(state, port, files), "utf-8")
        models = Path(os.environ.get("CALLSCRIBE_MODEL_DIR", work / "models"))
        daemon = Daemon(work / "c.toml", port, models, work / "daemon.log")
        daemon.start(timeout=300)
        database = state / "callscribe.db"
        feeder = Feeder(daemon, files, database, depth=4)
        try:
            if args.transcribe:
                feeder.start()
                time.sleep(10)  # decoding and recognition under way
            load = Load(port, "load")
            phases = [
                run_phase("warm-up", daemon, lambda p: load.full_speed(p, 8, 3.0)),
                run_phase("full speed", daemon,
                          lambda p: load.full_speed(p, args.connections, args.seconds)),
                run_phase("fixed rate", daemon,
                          lambda p: load.fixed_rate(p, args.rate, args.seconds, args.connections)),
            ]  # fmt: skip
            acknowledged = [i for phase in phases for i in phase.acknowledged]
            results["phases"] = [phase.summary() for phase in phases[1:]]
            results["acknowledged"] = len(acknowledged)
            results["stored"] = stored(database, acknowledged)
            for phase in results["phases"]:
                print(json.dumps(phase), flush=True)
            print(f"acknowledged {results['acknowledged']}, stored {results['stored']}")
            if args.soak:
                results["soak"] = soak(daemon, Load(port, "soak"), args.soak, args.soak_rate)
            results["recorded calls fed"] = feeder.posted
            results["feeder posts failed"] = feeder.failed
        finally:
            feeder.halt.set()
            daemon.stop()
    text = json.dumps(results, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")
    print(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
