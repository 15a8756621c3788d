"""What ``benchmarks/stt.py`` measured, as tables for a terminal and for Markdown."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from _bench_score import CallScore, Pooled, median_pooled, pool

BASELINE = "naive"
DISTURBED_SHARE = 0.05
THROUGHPUT_HEADERS = (
    "config",
    "audio s",
    "wall s",
    "RTF",
    "speed x",
    "WER",
    "CER",
    "WER/call",
    "CER/call",
    "WER op",
    "WER cl",
    "attrib.",
    "silence words",
    "load s",
    "RSS MB",
)


@dataclass(slots=True)
class ConfigRun:
    """Everything measured for one configuration, repeat by repeat."""

    name: str
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    setup: str = ""  # what the configuration ran with, as its worker reports it
    durations: dict[str, float] = field(default_factory=dict)  # call -> audio seconds
    batch_walls: list[float] = field(default_factory=list)  # one per repeat
    single_walls: dict[str, list[float]] = field(default_factory=dict)  # call -> per repeat
    scores: list[dict[str, CallScore]] = field(default_factory=list)  # per repeat, by call
    # (CPU s other processes used, elapsed s), one per timed request: the machine is shared
    other_cpu: list[tuple[float, float]] = field(default_factory=list)
    # callscribe's own decode / VAD / recognition split, per repeat, by call (batch runs)
    timings: list[dict[str, dict[str, float]]] = field(default_factory=list)
    # The last batch's [speaker, start, end, text] by call, so a score can be checked by eye.
    segments: dict[str, list[list[Any]]] = field(default_factory=dict)

    @property
    def audio_seconds(self) -> float:
        return sum(self.durations.values())

    @property
    def batch_wall(self) -> float:
        return statistics.median(self.batch_walls)

    def single_wall(self, call: str) -> float:
        return statistics.median(self.single_walls[call])

    def pooled(self) -> list[Pooled]:
        """Accuracy of each repeat (none without ground truth)."""
        return [p for p in (pool(list(r.values())) for r in self.scores) if p is not None]

    def accuracy(self) -> Pooled | None:
        pooled = self.pooled()
        return median_pooled(pooled) if pooled else None


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


def tables(runs: dict[str, ConfigRun]) -> list[Table]:
    return [throughput_table(runs), latency_table(runs)]


def throughput_table(runs: dict[str, ConfigRun]) -> Table:
    baseline = runs[BASELINE].batch_wall
    rows = []
    for run in runs.values():
        accuracy = run.accuracy()
        rows.append(
            (
                run.name,
                f"{run.audio_seconds:.1f}",
                f"{run.batch_wall:.1f}",
                f"{run.batch_wall / run.audio_seconds:.3f}",
                f"{baseline / run.batch_wall:.2f}",
                *_accuracy_cells(accuracy),
                f"{run.load_seconds:.2f}",
                f"{run.peak_rss_mb:.0f}",
            )
        )
    repeats = len(runs[BASELINE].batch_walls)
    # Transcripts can differ between repeats (naive samples on temperature fallback;
    # callscribe's batches depend on which calls finished decoding), so say by how much.
    spread = [
        f"{run.name}: WER {100 * min(wers):.1f}-{100 * max(wers):.1f}% over the repeats"
        for run in runs.values()
        if len(wers := [p.wer for p in run.pooled()]) > 1 and max(wers) > min(wers)
    ]
    return Table(
        title=f"All calls (median of {repeats} repeat{'s' if repeats > 1 else ''})",
        headers=THROUGHPUT_HEADERS,
        rows=tuple(rows),
        notes=(
            "wall includes decoding the files; RTF = wall / audio; speed x = naive wall / wall.",
            "WER, CER: pooled (total edits / total reference words or characters), speaker-"
            "blind; WER/call, CER/call: mean of per-call rates.",
            "WER op / cl: per speaker; attrib.: share of words put on the speaker whose turn "
            "they fall in; silence words: words in segments wholly inside music on hold or "
            ">1 s from any speech turn.",
            "load s: model load; RSS MB: peak resident memory of the configuration's process.",
            *spread,
        ),
    )


def latency_table(runs: dict[str, ConfigRun]) -> Table:
    baseline = runs[BASELINE]
    rows = []
    for run in runs.values():
        calls = list(run.single_walls)
        walls = [run.single_wall(c) for c in calls]
        rtfs = [run.single_wall(c) / run.durations[c] for c in calls]
        speedups = [baseline.single_wall(c) / run.single_wall(c) for c in calls]
        rows.append(
            (
                run.name,
                str(len(calls)),
                f"{statistics.median(walls):.2f}",
                f"{max(walls):.2f}",
                f"{statistics.median(rtfs):.3f}",
                f"{statistics.median(speedups):.2f}",
            )
        )
    return Table(
        title="Single call (each call alone, decode included)",
        headers=("config", "calls", "latency s", "max s", "RTF", "speed x"),
        rows=tuple(rows),
        notes=(
            "latency s, RTF, speed x: medians over calls of each call's median over repeats; "
            "speed x = naive latency / latency, call by call.",
        ),
    )


def _accuracy_cells(accuracy: Pooled | None) -> tuple[str, ...]:
    if accuracy is None:
        return ("-",) * 8
    return (
        _percent(accuracy.wer),
        _percent(accuracy.cer),
        _percent(accuracy.mean_wer),
        _percent(accuracy.mean_cer),
        _percent(accuracy.by_speaker.get("operator")),
        _percent(accuracy.by_speaker.get("client")),
        _percent(accuracy.attribution),
        f"{accuracy.words_in_silence:g}",
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def machine(threads: int) -> str:
    return (
        f"Machine: {_cpu_model()}, {os.cpu_count()} CPUs; threads used: {threads}; "
        f"Python {platform.python_version()}, faster-whisper {metadata.version('faster-whisper')}, "
        f"ctranslate2 {metadata.version('ctranslate2')}{_openvino()}; "
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def _openvino() -> str:
    try:
        return f", openvino {metadata.version('openvino')}"
    except metadata.PackageNotFoundError:
        return ""


def _other_share(runs: dict[str, ConfigRun]) -> tuple[float, float]:
    """CPU seconds other processes took while we timed, and their share of the machine."""
    pairs = [pair for run in runs.values() for pair in run.other_cpu]
    other = max(sum(cpu for cpu, _ in pairs), 0.0)
    capacity = sum(elapsed for _, elapsed in pairs) * (os.cpu_count() or 1)
    return other, other / max(capacity, 1e-9)


def disturbed(runs: dict[str, ConfigRun]) -> bool:
    # A few percent is the kernel and this driver; beyond that, timings are not clean.
    return _other_share(runs)[1] > DISTURBED_SHARE


def contention(runs: dict[str, ConfigRun]) -> str:
    other, share = _other_share(runs)
    verdict = "timings DISTURBED" if share > DISTURBED_SHARE else "quiet machine"
    return (
        f"Other processes used about {other:.1f} CPU s while configurations were timed "
        f"({100 * share:.1f}% of the machine, tick-sampled: reads a little low): {verdict}."
    )


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    for line in lines:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def render_text(tables: list[Table], footer: Sequence[str]) -> str:
    parts = []
    for table in tables:
        columns = zip(table.headers, *table.rows, strict=True)
        widths = [max(len(cell) for cell in column) for column in columns]
        lines = [_text_row(table.headers, widths), _text_row(["-" * w for w in widths], widths)]
        lines += [_text_row(row, widths) for row in table.rows]
        parts.append("\n".join([table.title, *lines, *(f"  {n}" for n in table.notes)]))
    return "\n\n".join([*parts, "\n".join(footer)]) + "\n"


def _text_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    # The configuration name reads best left-aligned, numbers right-aligned.
    padded = [
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded)


def render_markdown(tables: list[Table], footer: Sequence[str], command: str) -> str:
    parts = ["## Speech-to-text benchmark", f"Command: `{command}`"]
    for table in tables:
        lines = [
            "| " + " | ".join(table.headers) + " |",
            "|" + "|".join([":--", *["--:"] * (len(table.headers) - 1)]) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        parts += [f"### {table.title}", "\n".join(lines), "\n".join(f"- {n}" for n in table.notes)]
    parts += footer
    return "\n\n".join(parts) + "\n"
