"""Read the configuration: TOML file, then environment overrides, then validation.

Environment variables override single keys: ``CALLSCRIBE_DAEMON__LISTEN=0.0.0.0:8680``
sets ``[daemon] listen``, ``CALLSCRIBE_SINKS__ARCHIVE__PATH=/srv/a.jsonl`` sets
``[sinks.archive] path``.  Values are read as TOML values when they parse as one
(numbers, booleans, arrays) and as plain strings otherwise.  Relative paths in the file
are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callscribe.config.problems import report
from callscribe.config.settings import Settings
from callscribe.config.validation import validate
from callscribe.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/callscribe/callscribe.toml")
ENV_PREFIX = "CALLSCRIBE_"
ENV_SEPARATOR = "__"


def load_settings(
    path: Path = DEFAULT_CONFIG,
    *,
    environ: Mapping[str, str] | None = None,
    credentials_dir: Path | None = None,
) -> Settings:
    """The validated settings, or a ConfigError listing every problem with its key."""
    checked = validate(*read_settings(path, environ, credentials_dir))
    if checked.problems:
        raise ConfigError(report(path, checked.problems))
    return checked.settings


def read_settings(
    path: Path, environ: Mapping[str, str] | None = None, credentials_dir: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The file's data with the environment's overrides, and the context validation
    needs (the file's folder for relative paths, where secrets come from)."""
    environ = os.environ if environ is None else environ
    context = {
        "base_dir": path.resolve().parent,
        "environ": environ,
        "credentials_dir": credentials_dir or environ.get("CREDENTIALS_DIRECTORY"),
    }
    return apply_environment(read_toml(path), environ), context


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {path} does not exist (give another one with --config)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be read); save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR)]
        if not all(keys):
            raise ConfigError(f"environment variable {name}: empty key in the name")
        table = data
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"environment variable {name}: {key} is not a table")
        table[keys[-1]] = _value(value)
    return data


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
