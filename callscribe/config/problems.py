"""What is wrong with a configuration, each problem with the TOML key it is about.

Problems are collected, never raised one at a time: the admin fixes a file in one go.
They come from three places: pydantic's validation of each value, the cross-references
between tables (a route naming a sink that does not exist), and, for ``callscribe config
validate``, what this machine lacks (``host_checks.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from callscribe.config.base import plain_message

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # of a source or a sink

#: The error type of the cross-reference check inside ``Settings``: validation reports it
#: again key by key (``references``), so the joined message is not shown twice.
REFERENCES_ERROR = "references"


@dataclass(frozen=True, slots=True)
class Problem:
    key: str  # as written in the file: "sources.pbx.path", "routes[0].sinks"
    message: str

    def under(self, prefix: str) -> Problem:
        """The same problem, its key inside the table ``prefix``."""
        return Problem(f"{prefix}.{self.key}" if self.key else prefix, self.message)

    def __str__(self) -> str:
        return f"{self.key or '(top level)'}: {self.message}"


@runtime_checkable
class HostChecked(Protocol):
    """Settings that can tell what this machine lacks for them (a folder that is not
    there), with keys relative to their own table."""

    def problems_on_this_host(self) -> list[Problem]: ...


def report(path: Path, problems: Sequence[Problem]) -> str:
    """The problems as the CLI and the journal show them: one line each."""
    return "\n".join([f"{path}: {len(problems)} problem(s):", *(f"  {p}" for p in problems)])


def from_validation(exc: ValidationError, connector_types: Collection[str]) -> list[Problem]:
    """Pydantic's errors, each at its TOML key, in plain words (without the errors of
    the cross-reference check, which :func:`references` gives key by key)."""
    problems = []
    for error in exc.errors(include_url=False):
        if error["type"] == REFERENCES_ERROR:
            continue
        location = [str(part) for part in error["loc"]]
        # Pydantic names the connector type inside a source or sink's path; the admin
        # wrote [sinks.archive], not [sinks.archive.jsonl].
        if (
            len(location) > 2
            and location[0] in ("sources", "sinks")
            and location[2] in connector_types
        ):
            del location[2]
        problems.append(Problem(_key(location), plain_message(error)))
    return problems


def _key(location: Sequence[str]) -> str:
    key = ""
    for part in location:
        key += f"[{part}]" if part.isdigit() else f".{part}" if key else part
    return key


@dataclass(frozen=True, slots=True)
class RouteNames:
    """The names one route refers to."""

    sources: Iterable[str]
    sinks: Iterable[str]


def references(
    sources: Collection[str],
    sinks: Collection[str],
    routes: Sequence[RouteNames],
    redaction_sinks: Iterable[str],
) -> list[Problem]:
    """Names that are not names, and references to sources or sinks that do not exist."""
    problems = [
        Problem(f"{kind}.{name}", "names are lower-case letters, digits, '-' and '_'")
        for kind, names in (("sources", sources), ("sinks", sinks))
        for name in names
        if not NAME.match(name)
    ]
    for index, route in enumerate(routes):
        problems += [
            Problem(f"routes[{index}].sources", f"no source named {name!r}")
            for name in route.sources
            if name not in sources
        ]
        problems += [
            Problem(f"routes[{index}].sinks", f"no sink named {name!r}")
            for name in route.sinks
            if name not in sinks
        ]
    problems += [
        Problem(f"redaction.sinks.{name}", f"no sink named {name!r}")
        for name in redaction_sinks
        if name not in sinks
    ]
    return problems


def readable_folder(path: Path) -> str | None:
    """Why the service could not list and read files in ``path``, or None."""
    if not path.exists():
        return f"the folder {path} does not exist"
    if not path.is_dir():
        return f"{path} is not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"the folder {path} cannot be read (by this user, uid {os.getuid()})"
    return None


def writable_file(path: Path) -> str | None:
    """Why the service could not append to ``path`` (created if missing), or None."""
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if path.exists():
        ok = os.access(path, os.W_OK)
        return None if ok else f"{path} cannot be written (by this user, uid {os.getuid()})"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path} cannot be created in {folder} (by this user, uid {os.getuid()})"
    return None
