"""The fuzz session's summary: examples run and refused per parser (docs/reliability.md)."""

from __future__ import annotations

import json
import os

from _pytest.terminal import TerminalReporter

from tests.fuzz.harness import COUNTS, EXAMPLES, REFUSED


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section(f"fuzz examples (budget {EXAMPLES} per test)")
    for parser, count in sorted(COUNTS.items()):
        terminalreporter.write_line(
            f"{parser:<40} {count:>8} run {REFUSED[parser]:>8} refused with a documented error"
        )
    report = os.environ.get("CALLSCRIBE_FUZZ_REPORT")
    if report:
        figures = {p: {"run": n, "refused": REFUSED[p]} for p, n in sorted(COUNTS.items())}
        with open(report, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=1)
