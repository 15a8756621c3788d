"""The crash runs, short: two kills at each point (CHAOS_RUNS sets how many in all; the
full run by hand is ``python -m tests.chaos``, see docs/reliability.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.harness import KINDS, run_chaos

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("CHAOS_RUNS", str(2 * len(KINDS))))


def test_kill_9_at_every_point_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, model_dir: Path
) -> None:
    report = run_chaos(tmp_path, model_dir, RUNS, seed=int(os.environ.get("CHAOS_SEED", "7")))
    figures = report.as_dict()
    print("\n", figures)
    assert report.lost == []
    assert report.acknowledged == report.calls  # the last daemon answered every notification
    assert report.calls >= RUNS
    assert report.unfinished_calls == 0
    assert report.unfinished_jobs == 0
    assert report.integrity == "ok"
    assert set(report.duplicates.values()) == {0}, report.duplicates
    reached = sum(hits for _, hits in report.by_kind().values())
    assert reached >= RUNS // 2, f"too few armed points were reached: {report.by_kind()}"
