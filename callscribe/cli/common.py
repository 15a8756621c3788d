"""What the admin commands share: options, the service's database, and values from outside
made safe to print (phone numbers masked unless asked for, control characters escaped, so
a forged PBX field cannot rewrite the admin's terminal).

The admin commands use the database the running daemon uses (SQLite's WAL lets them in;
PostgreSQL is shared anyway; each store method is one short transaction).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.config.settings import Settings
from callscribe.domain import Transcript
from callscribe.logmask import escape_control, mask_phone
from callscribe.store import opening
from callscribe.store.base import Store

NOT_FOUND = 1
NO_ROUTE = "no route"  # a finished call no [[routes]] entry took


def add_common(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """--config and --show-numbers, on a command and its actions; SUPPRESS on an action
    keeps a value given before the action's name (``calls --config x show 1``)."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS if inherited else DEFAULT_CONFIG,
        help=f"configuration file ({DEFAULT_CONFIG}); the database is found from it",
    )
    parser.add_argument(
        "--show-numbers",
        action="store_true",
        default=argparse.SUPPRESS if inherited else False,
        help="show phone numbers in full (masked by default)",
    )


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[tuple[Settings, Store]]:
    """The settings and the service's database, closed afterwards; never creates a
    SQLite file (``[store]``: opening.py)."""
    settings = load_settings(args.config)
    store = opening.open_store(settings)
    try:
        yield settings, store
    finally:
        store.close()


def clean(text: str | None, args: argparse.Namespace, width: int | None = None) -> str:
    """A value from outside, safe to print: masked, escaped, cut to ``width``."""
    if text is None or text == "":
        return "-"
    shown = escape_control(text if args.show_numbers else mask_phone(text))
    if width is not None and len(shown) > width:
        shown = shown[: width - 1] + "…"
    return shown


def local_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else "{}:{:02d}".format(*divmod(round(seconds), 60))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """Columns padded to their widest cell; the last one is not padded."""
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(indent + line.rstrip())


def masked(transcript: Transcript) -> Transcript:
    """The transcript with phone numbers in its text masked."""
    segments = tuple(dataclasses.replace(s, text=mask_phone(s.text)) for s in transcript.segments)
    return dataclasses.replace(transcript, segments=segments)


def mask(text: str | None, args: argparse.Namespace) -> str | None:
    """For JSON and CSV: numbers masked, control characters left to the encoder."""
    return text if text is None or args.show_numbers else mask_phone(text)
