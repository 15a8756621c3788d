"""What an archive's metadata file says about its recordings (``callscribe import
--metadata FILE``): one row per recording, keyed by its file name, with the generic
webhook's fields (docs/sources/generic-webhook.md).

- CSV: a header row; ``file`` names the recording (its name, or its path below the folder
  given to ``import``); then any of ``id``, ``direction``, ``started_at``, ``answered_at``,
  ``ended_at``, ``client_number``, ``line_number``, ``operator_id`` (or ``operator.id``),
  ``operator_name`` (or ``operator.name``), ``fields.<name>`` and ``channels``
  (``operator,client``); an empty cell says nothing.
- JSONL: one JSON object per line, the generic webhook's body with ``file`` (and
  ``channels``) added.

Each row is checked as a webhook body is (``sidecar.details_of``); a value that is wrong
is left out with the reason, the rest of the row kept.  ``id`` is the call's identity when
given (the same call sent by the webhook is then the same call).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.connectors.sources.sidecar import Sidecar, details_of
from callscribe.domain import Speaker
from callscribe.errors import ConfigError, SourceError
from callscribe.transcription.audio import parse_channel_map

MAX_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Row:
    """One recording's description."""

    line: int
    details: Sidecar
    external_id: str | None
    channels: tuple[Speaker, Speaker] | None


@dataclass
class Metadata:
    rows: dict[str, Row] = field(default_factory=dict)  # by the file key as written
    problems: list[str] = field(default_factory=list)  # "line N: ..."
    used: set[str] = field(default_factory=set)

    def find(self, relative: str, name: str) -> Row | None:
        """The row of a recording found at ``relative`` (below a folder given to import)
        or with file ``name``."""
        for key in (relative, name):
            row = self.rows.get(key)
            if row is not None:
                self.used.add(key)
                return row
        return None

    def unused(self) -> list[str]:
        return sorted(set(self.rows) - self.used)


def read_metadata(path: Path) -> Metadata:
    """The rows of a CSV (``.csv``) or JSONL file; ConfigError when it cannot be read."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"--metadata {path}: over {MAX_BYTES >> 20} MB")
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--metadata {path}: cannot be read ({exc})") from None
    metadata = Metadata()
    records = _csv(text) if path.suffix.lower() == ".csv" else _jsonl(text, metadata)
    for line, data in records:
        _add(metadata, line, data)
    return metadata


def _csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    if "file" not in (reader.fieldnames or []):
        raise ConfigError("--metadata: the CSV file needs a 'file' column naming each recording")
    records = []
    for number, row in enumerate(reader, start=2):
        data: dict[str, Any] = {}
        for column, value in row.items():
            if column is None or value is None or not value.strip():
                continue  # an empty cell says nothing
            head, _, rest = column.strip().partition(".")
            if head in ("operator", "fields") and rest:
                data.setdefault(head, {})[rest] = value.strip()
            elif column.strip() in ("operator_id", "operator_name"):
                data.setdefault("operator", {})[column.strip()[9:]] = value.strip()
            else:
                data[column.strip()] = value.strip()
        records.append((number, data))
    return records


def _jsonl(text: str, metadata: Metadata) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, parse_object(line, "the line")))
        except SourceError as exc:
            metadata.problems.append(f"line {number}: {exc}")
    return records


def _add(metadata: Metadata, line: int, data: Mapping[str, Any]) -> None:
    data = dict(data)
    key = data.pop("file", None)
    if not isinstance(key, str) or not key.strip():
        metadata.problems.append(f"line {line}: no 'file' naming the recording; row left out")
        return
    key = key.strip().lstrip("./")
    if key in metadata.rows:
        metadata.problems.append(f"line {line}: {key!r} is described twice; the first kept")
        return
    channels = None
    given = data.pop("channels", None)
    problems: list[str] = []
    if given is not None:
        try:
            channels = parse_channel_map(str(given))
        except ConfigError as exc:
            problems.append(f"channels: {exc}")
    details = details_of(data, Path(key).stem)
    identity = data.get("id") if "id" in details.raw else None
    metadata.problems += [f"line {line}: {p}" for p in (*problems, *details.problems)]
    metadata.rows[key] = Row(
        line, details, None if identity is None else str(identity).strip(), channels
    )
