"""A recording's sidecar: ``<name>.json`` next to ``<name>.wav``, saying what the file
cannot (direction, numbers, operator, times, the caller's own fields).

It is the generic webhook's body (``call_schema``), checked the same way, except that
``id`` may be left out (the call's identity is the recording file) and a recording URL
may not be given (the recording is the file).  A key that is wrong is left out with the
reason and the rest is kept: a sidecar never costs its call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callscribe.connectors.sources.call_schema import CallPayload, describe
from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.errors import SourceError

MAX_BYTES = 1 << 20  # as much as a webhook body may hold
_NOT_HERE = ("recording_url", "recordings")


@dataclass(frozen=True, slots=True)
class Sidecar:
    """The ``CallEvent`` fields a sidecar gives, its keys that were kept (for ``raw``),
    and what was wrong with it."""

    fields: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def sidecar_path(recording: Path) -> Path:
    return recording.with_suffix(".json")


def read_sidecar(path: Path) -> Sidecar | None:
    """The sidecar at ``path``; None when there is none."""
    try:
        body = _read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Sidecar(problems=(f"cannot be read: {exc.strerror or exc}",))
    if len(body) > MAX_BYTES:
        return Sidecar(problems=(f"over {MAX_BYTES} bytes; not read",))
    try:
        data = parse_object(body, "the file")
    except SourceError as exc:
        return Sidecar(problems=(str(exc),))
    return details_of(data, path.stem)


def details_of(data: Mapping[str, Any], name: str) -> Sidecar:
    """What one call's description beside its recording (a sidecar, a row of an import's
    metadata file) gives; ``name`` stands in for a missing ``id``."""
    problems = [
        f"{key}: the recording is the file beside it; left out" for key in _NOT_HERE if key in data
    ]
    kept = {key: value for key, value in data.items() if key not in _NOT_HERE}
    for _ in range(2):  # the second try is without the keys the first one refused
        try:
            # Without an id of its own the description is named by its file; the call's
            # identity is the recording either way.
            payload = CallPayload.model_validate({"id": name, **kept})
        except ValidationError as exc:
            problems.append(describe(exc))
            refused = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            kept = {key: value for key, value in kept.items() if key not in refused}
            continue
        return Sidecar(payload.details(), kept, tuple(problems))
    return Sidecar(problems=tuple(problems))


def _read(path: Path) -> bytes:
    # Not through a symlink: a link in a shared folder must not make callscribe read, and
    # send on, a file it was not given.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read(MAX_BYTES + 1)
