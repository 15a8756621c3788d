"""The ``callscribe`` command line.

Each subcommand lives in a module of its own that exposes ``register(subparsers)``; the
table below is the whole list, so what the CLI can do is visible in one place.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from callscribe import __version__
from callscribe.errors import CallscribeError
from callscribe.logsetup import configure_logging

from . import backfill, calls, config, deliveries, model, routes, run, sources, store, transcribe

Handler = Callable[[argparse.Namespace], int]

SUBCOMMANDS = (
    run,
    transcribe,
    config,
    model,
    calls,
    deliveries,
    routes,
    backfill,
    sources,
    store,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callscribe",
        description=(
            "Transcribe phone calls on your own machine: operator and client apart, "
            "Russian first, no cloud."
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="say more (repeat for debug output)"
    )
    parser.add_argument("--version", action="version", version=f"callscribe {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The service reports what it does at INFO; a one-shot command stays quiet unless asked.
    configure_logging(
        args.verbose, default=logging.INFO if args.command == "run" else logging.WARNING
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except CallscribeError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"callscribe: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
