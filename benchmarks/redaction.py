"""Precision and recall of redaction on the labelled test set, as Markdown tables.

    .venv/bin/python benchmarks/redaction.py [--cases tests/data/redaction/cases.jsonl]
        [--config callscribe.toml] [--misses]

Every built-in kind is switched on (or the ``[redaction]`` of ``--config``); ``--misses``
also lists the values missed and the redactions that hit no value, by case id.  The set is
built by ``redaction_cases.py``; docs/redaction.md holds the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callscribe.config.loader import load_settings
from callscribe.config.redaction import RedactionSettings
from callscribe.redaction.measure import load_cases, score, table

CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "redaction" / "cases.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--config", type=Path, help="take [redaction] from this file")
    parser.add_argument("--misses", action="store_true", help="list what went wrong")
    parser.add_argument(
        "--numbers", type=int, metavar="DIGITS", help="also hide any number this long (number)"
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config).redaction if args.config else RedactionSettings()
    if args.numbers:
        kinds = settings.kinds.model_copy(update={"number": True})
        settings = settings.model_copy(update={"kinds": kinds, "number_digits": args.numbers})
    policy = settings.model_copy(update={"enabled": True}).settings_for(None)
    cases = load_cases(args.cases)
    tally = score(cases, policy)
    print(f"{len(cases)} cases from {args.cases.name}\n")
    print(table(tally))
    if args.misses:
        print("missed:", *tally.missed, sep="\n  ")
        print("redacted, not a value:", *tally.false, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
