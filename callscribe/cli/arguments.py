"""Argument types the subcommands share, so a bad value is refused by argparse with the
flag's name (exit status 2) rather than later, or not at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from callscribe.errors import ConfigError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def prepare_output(folder: Path, targets: list[Path], force: bool) -> None:
    """Make the ``--output`` folder, refusing to overwrite ``targets`` unless ``force``."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--output {folder} is a file, not a folder; name a folder")
    if not force:
        existing = [t for t in targets if t.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise ConfigError(
                f"{existing[0]}{more} already exists; pass --force to overwrite, "
                "or another --output folder"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output {folder}: cannot create it: {exc.strerror}") from None
