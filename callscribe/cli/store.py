"""``callscribe store migrate --to postgresql://…``: move the service's SQLite queue to
PostgreSQL, so that several nodes can share it (docs/multi-node.md)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from callscribe.config.base import SecretValue, plain_message
from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.config.store import StoreSettings
from callscribe.errors import ConfigError
from callscribe.store.copy import copy_to_postgres
from callscribe.store.pg_pool import PgTarget


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "store",
        help="the database: move it from SQLite to PostgreSQL",
        description="Work on the service's database.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="copy the SQLite database into PostgreSQL (stop the service first)",
        description=(
            "Copy every call, job, transcript, delivery (with its progress), call part, "
            "backfilled day and audit row from the SQLite database of --config into a "
            "PostgreSQL database, in one transaction, and compare the counts. Stop the "
            "service first; then set [store] url and password and start it again."
        ),
    )
    migrate.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://USER@HOST[:PORT]/DATABASE"
    )
    migrate.add_argument(
        "--password",
        metavar="SECRET",
        help="credential:NAME, file:PATH or env:NAME (default: libpq's ~/.pgpass, PGPASSWORD)",
    )
    migrate.add_argument(
        "--replace", action="store_true", help="delete what the target holds before copying"
    )
    migrate.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"configuration file ({DEFAULT_CONFIG})"
    )
    migrate.set_defaults(handler=migrate_to_postgres)


class _Target(BaseModel):
    """--to and --password checked by the same rules as [store] url and password."""

    password: SecretValue | None = None


def migrate_to_postgres(args: argparse.Namespace) -> int:
    try:
        url = StoreSettings(url=args.to).url
        secret = _Target.model_validate({"password": args.password}).password
    except ValidationError as exc:
        raise ConfigError(f"--to / --password: {plain_message(exc.errors()[0])}") from None
    settings = load_settings(args.config)
    source = settings.daemon.database_path
    if not source.exists():
        raise ConfigError(f"no SQLite database at {source} to copy ([daemon] state_dir)")
    assert url is not None  # noqa: S101 - --to is required
    target = PgTarget(url, None if secret is None else secret.reveal())
    print(f"copying {source} to {target.name}")
    counts = asyncio.run(copy_to_postgres(source, target, replace=args.replace, say=print))
    print(
        f"done: {counts['calls']} calls, {counts['jobs']} jobs; every table's count checked. "
        f'Now set [store] url = "{url}" (and password) on every node.'
    )
    return 0
