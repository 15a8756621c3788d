"""``callscribe run``: the service."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callscribe.config.loader import DEFAULT_CONFIG


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the service: receive calls, transcribe them, deliver the transcripts",
        description=(
            "Run callscribe as a service (systemd runs this). It receives call events from "
            "the configured sources, fetches and transcribes each recording, and delivers "
            "the transcript to the configured sinks. Stop it with SIGTERM (Ctrl+C); reload "
            "the configuration with SIGHUP."
        ),
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"configuration file ({DEFAULT_CONFIG})"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from callscribe.daemon.app import run as run_daemon  # noqa: PLC0415 - heavy imports

    return run_daemon(args.config)
