"""The fault injection seam: off unless armed, and exactly the n-th time when armed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REACH_THREE_TIMES = "from callscribe import faults\nfor _ in range(3): faults.reach('housekeeping')"


def run(tmp_path: Path, fault: str | None) -> tuple[int, str, float]:
    log = tmp_path / "faults.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_FAULT")}
    if fault is not None:
        env |= {"CALLSCRIBE_FAULT": fault, "CALLSCRIBE_FAULT_LOG": str(log)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", REACH_THREE_TIMES],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    text = log.read_text() if log.exists() else ""
    return done.returncode, text, time.monotonic() - started


def test_unarmed_it_does_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, None)[:2] == (0, "")


def test_armed_it_kills_at_the_nth_time_after_saying_so(tmp_path: Path) -> None:
    code, log, _ = run(tmp_path, "housekeeping:2:kill")
    assert code == -signal.SIGKILL
    assert log == "reached housekeeping 1\nreached housekeeping 2\n"


def test_another_point_is_not_this_one(tmp_path: Path) -> None:
    assert run(tmp_path, "store.commit:1:kill")[:2] == (0, "")


def test_block_holds_the_caller(tmp_path: Path) -> None:
    code, log, seconds = run(tmp_path, "housekeeping:3:block@0.5")
    assert code == 0
    assert log.count("reached") == 3
    assert seconds >= 0.5


@pytest.mark.parametrize("spec", ["nowhere:1:kill", "housekeeping:1:explode", "housekeeping"])
def test_a_wrong_spec_is_refused(tmp_path: Path, spec: str) -> None:
    code, _, _ = run(tmp_path, spec)
    assert code == 1  # the import raises: a test cannot arm a point that does not exist
