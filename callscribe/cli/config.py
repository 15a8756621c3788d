"""``callscribe config validate | show``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from callscribe.config.loader import DEFAULT_CONFIG, load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="check the configuration file",
        description="Check a configuration file, or show it with every default filled in.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("validate", validate, "say whether the configuration is valid, and what is wrong"),
        ("show", show, "print the configuration with defaults filled in (secrets hidden)"),
        ("reference", reference, "print every setting with its default and meaning (Markdown)"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG, help=f"file to read ({DEFAULT_CONFIG})"
        )
        action.set_defaults(handler=handler)


def validate(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    print(
        f"{args.config}: valid — {len(settings.sources)} source(s), {len(settings.sinks)} "
        f"sink(s), {len(settings.routes)} route(s)"
    )
    unrouted = set(settings.sinks) - {sink for route in settings.routes for sink in route.sinks}
    for sink in sorted(unrouted):
        print(f"note: sink {sink!r} is not used by any route")
    return 0


def show(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    print(json.dumps(settings.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


def reference(args: argparse.Namespace) -> int:
    from callscribe.config.reference import markdown  # noqa: PLC0415 - only this command

    print(markdown(), end="")
    return 0
