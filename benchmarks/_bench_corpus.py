"""Which calls ``benchmarks/stt.py`` measures, and their ground truth if there is one."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from callscribe.transcription.accuracy import Turn, turns_of

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "tests" / "data" / "samples"
# call-public-01's recording lives here, while its ground truth is in SAMPLES' manifest.
EXAMPLES = HERE.parent / "examples"
CORPUS = HERE / "corpus"  # generated calls, gitignored


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    path: Path
    turns: tuple[Turn, ...] | None  # None: no ground truth


def progress(message: str) -> None:
    print(f"[stt] {message}", file=sys.stderr, flush=True)


def plain_files(paths: list[Path]) -> list[Call]:
    if missing := [str(path) for path in paths if not path.is_file()]:
        raise SystemExit(f"not a file: {', '.join(missing)}")
    return [Call(path.stem, path.resolve(), None) for path in paths]


def generated(count: int, seed: int) -> Path:
    """The directory of ``make_calls.py --count N --seed S``, made on first use."""
    out = CORPUS / f"seed-{seed}-{count}"
    # make_calls writes the manifest last, so a run cut short is simply made again.
    if not (out / "manifest.json").is_file():
        progress(f"generating {count} calls (seed {seed}) into {out}")
        command = [sys.executable, str(HERE / "make_calls.py"), "--out", str(out)]
        command += ["--count", str(count), "--seed", str(seed)]
        # Its progress lines go to stderr with ours: stdout is for the tables.
        subprocess.run(command, check=True, stdout=sys.stderr)  # noqa: S603 - our own script
    return out


def load_manifest(directory: Path) -> list[Call]:
    """Calls of ``directory/manifest.json`` whose recording is there or in examples/."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    calls = []
    for entry in manifest["calls"]:
        found = [d / entry["wav"] for d in (directory, EXAMPLES) if (d / entry["wav"]).is_file()]
        if not found:
            progress(f"skipping {entry['name']}: {entry['wav']} is not in {directory} or examples/")
            continue
        calls.append(Call(entry["name"], found[0].resolve(), tuple(turns_of(entry))))
    if not calls:
        raise SystemExit(f"no recordings found for {directory / 'manifest.json'}")
    return calls
