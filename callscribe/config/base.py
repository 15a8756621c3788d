"""Building blocks of callscribe's settings: strict models and secrets.

Secrets never sit in the configuration file if the admin can help it.  A secret field
takes a reference instead of the value:

- ``credential:NAME`` — the file ``$CREDENTIALS_DIRECTORY/NAME`` (systemd ``LoadCredential=``;
  readable by the service only, never inherited by child processes);
- ``file:/path`` — the contents of a file (trailing newline removed);
- ``env:NAME`` — an environment variable (inherited by children: the last resort).

A plain string is taken as the secret itself, for quick tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
)
from pydantic_core import ErrorDetails


def plain_message(error: ErrorDetails) -> str:
    """A validation error's message without pydantic's own wording around it."""
    if error["type"] == "extra_forbidden":
        return "unknown setting (a typo?)"
    return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


class ConfigModel(BaseModel):
    """Every settings section: unknown keys are errors, values never change after load."""

    # Inputs stay out of error messages: they may be secrets.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Secret:
    """A secret value that does not show itself in logs, reprs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _resolve(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string (or credential:NAME, file:PATH, env:NAME)")
    context = info.context or {}
    scheme, _, rest = value.partition(":")
    if scheme == "credential":
        directory = context.get("credentials_dir") or os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(
                f"credential {rest!r} asked for, but no credentials directory is set "
                "(systemd sets $CREDENTIALS_DIRECTORY for LoadCredential=)"
            )
        return Secret(_read_secret_file(Path(directory) / rest))
    if scheme == "file":
        return Secret(_read_secret_file(Path(rest)))
    if scheme == "env":
        environ = context.get("environ", os.environ)
        if rest not in environ or not environ[rest]:
            raise ValueError(f"environment variable {rest} is not set")
        return Secret(environ[rest])
    return Secret(value)


def _read_secret_file(path: Path) -> str:
    try:
        text = path.read_text("utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not text:
        raise ValueError(f"secret file {path} is empty")
    return text


SecretValue = Annotated[
    Secret,
    PlainValidator(_resolve),
    PlainSerializer(lambda secret: "********", return_type=str),
]


def _against_base(path: Path, info: ValidationInfo) -> Path:
    # Relative paths in a config file mean "next to the config file", whatever the
    # working directory of the process that loads it.
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path


ConfigPath = Annotated[Path, AfterValidator(_against_base)]


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected a time zone name such as 'Europe/Moscow' or 'UTC'")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (write an IANA name such as 'Europe/Moscow')"
        ) from None


TimeZone = Annotated[
    ZoneInfo, PlainValidator(_zone), PlainSerializer(lambda zone: zone.key, return_type=str)
]
