"""``callscribe sources uis-template NAME``: what to paste into a vendor's cabinet."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.connectors.sources.uis import UisSourceConfig
from callscribe.connectors.sources.uis_templates import TEMPLATES
from callscribe.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sources",
        help="help setting up a source in the vendor's cabinet",
        description="Print what to paste into a vendor's cabinet for a configured source.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    uis = actions.add_parser(
        "uis-template",
        help="the UIS notification bodies to paste, with the source's token in them",
        description=(
            "Print the three HTTP notifications to create in UIS («Уведомления» → "
            "«Добавить»): the event type to choose, the method, the URL and the body to "
            "paste. The bodies hold the source's token: treat them as secrets."
        ),
    )
    uis.add_argument("name", metavar="NAME", help="a source of type uis, as in [sources.NAME]")
    uis.add_argument(
        "--url",
        default="https://callscribe.example.ru",
        help="the address UIS reaches this service at (scheme and host, any proxy path)",
    )
    uis.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"configuration file ({DEFAULT_CONFIG})"
    )
    uis.set_defaults(handler=uis_template)


def uis_template(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    config = settings.sources.get(args.name)
    if not isinstance(config, UisSourceConfig):
        uis = sorted(n for n, c in settings.sources.items() if isinstance(c, UisSourceConfig))
        raise ConfigError(
            f"no source {args.name!r} of type uis in {args.config} "
            f"(sources of type uis: {', '.join(uis) or 'none'})"
        )
    url = f"{args.url.rstrip('/')}/hooks/{args.name}"
    for number, template in enumerate(TEMPLATES, start=1):
        print(f"{number}. «Тип события»: {template.event_type}")
        print("   «Способ уведомления»: HTTP, «Метод»: POST")
        print(f"   URL: {url}")
        print("   Тело уведомления:")
        print(template.body(config.token.reveal()))
        print()
    return 0
