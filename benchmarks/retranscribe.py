"""``callscribe retranscribe`` against ``callscribe transcribe`` on the same recordings.

    .venv/bin/python benchmarks/retranscribe.py [--copies 4] [--repeats 3] [FILE ...]

Stores each recording (the shared samples by default, each ``--copies`` times) as a call
the service has fetched, transcribed and delivered, in a scratch state folder; then times,
turn about, the two commands as an admin runs them, in fresh processes (model load and
everything the command does included):

- ``callscribe transcribe --no-progress --output DIR FILE...``
- ``callscribe retranscribe --again --quiet``: the same files as stored calls, each new
  transcript stored as a version (a transaction per call, synced), its run recorded.

Prints the median wall time of each, and retranscribe's as a share of transcribe's, pair by
pair (on a shared machine a pair run back to back is what the load spoils least).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from callscribe.domain import CallEvent, Recording, RecordingRef, Segment, Speaker, Transcript
from callscribe.store.base import JobKind
from callscribe.store.sqlite import SqliteStore
from callscribe.transcription.audio import declared_seconds

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [
    ROOT / "tests/data/samples/call-public-00.wav",
    ROOT / "tests/data/samples/call-public-02.wav",
    ROOT / "examples/call-public-01.wav",
]
STAND_IN = Transcript(
    segments=(Segment(Speaker.CLIENT, 0.0, 1.0, "…", -0.1, 0.0),),
    duration=1.0,
    language="ru",
    model="base",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--copies", type=int, default=4, help="each file this many times")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = [f.resolve() for f in (args.files or SAMPLES) for _ in range(args.copies)]
    seconds = sum(declared_seconds(f) for f in files)
    with tempfile.TemporaryDirectory(prefix="callscribe-bench-") as scratch:
        work = Path(scratch)
        config = _stored(work, files)
        commands = {
            "transcribe": [sys.executable, "-m", "callscribe", "transcribe", "--no-progress",
                           "--force", "--output", str(work / "out"), *map(str, files)],
            "retranscribe": [sys.executable, "-m", "callscribe", "retranscribe", "--again",
                             "--quiet", "--config", str(config)],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                started = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)  # noqa: S603
                times[name].append(time.perf_counter() - started)
    print(f"{len(files)} recordings, {seconds:.0f} s of audio, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    for name, took in times.items():
        median = statistics.median(took)
        runs = ", ".join(f"{t:.1f}" for t in took)
        print(f"{name:13} median {median:6.1f} s  (×{seconds / median:.1f} real time; {runs})")
    # Each pair ran back to back, so its ratio is the one the machine's load spoils least.
    pairs = [r / t for r, t in zip(times["retranscribe"], times["transcribe"], strict=True)]
    shown = ", ".join(f"{p:.2f}" for p in pairs)
    print(
        f"retranscribe / transcribe, pair by pair: median {statistics.median(pairs):.2f} ({shown})"
    )
    return 0


def _stored(work: Path, files: list[Path]) -> Path:
    """A state folder holding each file as a delivered call; returns its configuration."""
    state = work / "state"
    config = work / "callscribe.toml"
    config.write_text(f'[daemon]\nstate_dir = "{state}"\n', "utf-8")
    store = SqliteStore(state / "callscribe.db")
    try:
        for n, path in enumerate(files):
            event = CallEvent(
                source="bench",
                external_id=str(n),
                started_at=datetime.now(UTC),
                recordings=(RecordingRef(str(path)),),
            )
            call_id = store.ingest(event).call_id or 0
            (job,) = store.claim([JobKind.FETCH], "bench", 60.0)
            kept = state / "recordings" / str(call_id) / f"recording-bench{path.suffix}"
            kept.parent.mkdir(parents=True)
            shutil.copyfile(path, kept)
            digest = hashlib.sha256(kept.read_bytes()).hexdigest()
            fetched = Recording(call_id, str(kept), kept.stat().st_size, digest, datetime.now(UTC))
            store.complete_fetch(job, fetched)
            (job,) = store.claim([JobKind.TRANSCRIBE], "bench", 60.0)
            store.complete_transcribe(job, STAND_IN, [])
    finally:
        store.close()
    return config


if __name__ == "__main__":
    sys.exit(main())
