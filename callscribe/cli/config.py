"""``callscribe config validate | show``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from callscribe.cli.preview import SAMPLE_TRANSCRIPT, previews, sample_call
from callscribe.config import host_checks, toml_text
from callscribe.config import validation as config_validation
from callscribe.config.loader import DEFAULT_CONFIG, load_settings, read_settings
from callscribe.config.problems import report
from callscribe.config.settings import Settings
from callscribe.connectors.sinks.tqm_config import TqmSinkConfig
from callscribe.domain import Call, Transcript
from callscribe.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="check the configuration file",
        description="Check a configuration file, or show it with every default filled in.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        (
            "validate",
            validate,
            "say whether the configuration is valid and will work on this machine; list "
            "every problem with its key",
        ),
        ("show", show, "print the configuration with defaults filled in (secrets hidden)"),
        ("reference", reference, "print every setting with its default and meaning (Markdown)"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG, help=f"file to read ({DEFAULT_CONFIG})"
        )
        action.set_defaults(handler=handler)
        if name == "validate":
            action.add_argument(
                "--call",
                type=int,
                metavar="ID",
                help="render the mapped requests for this stored call instead of a sample",
            )
            action.add_argument(
                "--online",
                action="store_true",
                help="also look up the host name of every sink URL (needs DNS)",
            )
        if name == "show":
            action.add_argument(
                "--format", choices=("toml", "json"), default="toml", help="toml (default) or json"
            )


def validate(args: argparse.Namespace) -> int:
    data, context = read_settings(args.config)
    checked = config_validation.validate(data, context)
    problems = [
        *checked.problems,
        *host_checks.missing_parts(data),
        *host_checks.folders(checked.settings),
    ]
    if args.online:
        problems += asyncio.run(host_checks.unresolvable_hosts(checked.settings))
    if problems:
        raise ConfigError(report(args.config, problems))
    settings = checked.settings
    print(
        f"{args.config}: valid — {len(settings.sources)} source(s), {len(settings.sinks)} "
        f"sink(s), {len(settings.routes)} route(s)"
    )
    unrouted = set(settings.sinks) - {sink for route in settings.routes for sink in route.sinks}
    for sink in sorted(unrouted):
        print(f"note: sink {sink!r} is not used by any route")
    for number, route in enumerate(settings.routes, start=1):
        for sink in route.sinks:
            if isinstance(settings.sinks[sink], TqmSinkConfig) and route.calls != "recorded":
                print(
                    f"note: route {number} sends missed calls to {sink!r}, but TQM imports "
                    "recorded calls only: those become dead letters (use calls = 'recorded')"
                )
    if not args.online and host_checks.sink_hosts(settings):
        print("note: sink host names were not looked up (--online does)")
    shown = list(previews(settings, *_call_to_show(settings, args)))
    if shown:
        which = f"call {args.call}" if args.call else "a sample call"
        print(f"\nRequests for {which} (secrets shown as ********):\n")
        print("\n\n".join(shown))
    return 0


def _call_to_show(settings: Settings, args: argparse.Namespace) -> tuple[Call, Transcript | None]:
    if args.call is None:
        return sample_call(settings), SAMPLE_TRANSCRIPT
    from callscribe.cli.calls import open_store  # noqa: PLC0415 - only with --call

    with open_store(args) as (_, store):
        try:
            return store.call(args.call), store.transcript(args.call)
        except KeyError:
            raise ConfigError(f"no call with id {args.call} in the database") from None


def show(args: argparse.Namespace) -> int:
    effective = load_settings(args.config).model_dump(mode="json")  # secrets as ********
    if args.format == "json":
        print(json.dumps(effective, ensure_ascii=False, indent=2))
    else:
        print(f"# {args.config} with every default filled in; secrets shown as ********")
        print(toml_text.dumps(effective), end="")
    return 0


def reference(args: argparse.Namespace) -> int:
    from callscribe.config.reference import markdown  # noqa: PLC0415 - only this command

    print(markdown(), end="")
    return 0
