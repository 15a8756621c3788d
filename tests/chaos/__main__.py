"""``python -m tests.chaos [--runs 210] [--seed 1] [--report chaos.json]``: the full crash
run by hand (about 20 minutes on two cores); CI runs a short one (test_chaos.py)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tests.chaos.harness import run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=210, help="kills (210: 30 per kind)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, help="also write the figures here (JSON)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        models = work / "models"
        models.mkdir(exist_ok=True)
        report = run_chaos(work, models, args.runs, args.seed, wait_retention=True).as_dict()
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if args.report:
        args.report.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
