"""A folder of recordings as a source: every complete audio file becomes a call.

A file is complete once its size and modification time, and those of its sidecar
(``<name>.json``, if any), have not changed for ``settle_seconds`` (a PBX may still be
writing them).  The folder is scanned again at every start, so files dropped while the
daemon was down are picked up; the store ignores files it has already seen, because a
recording's identity (its path, size and modification time) is its ``external_id`` — a
sidecar never changes it.

What a call is about comes from the file's name (FreePBX's naming, ``freepbx_names``) and
its sidecar (``sidecar``), the sidecar winning field by field.  Whatever cannot be read
in either is left out and logged once, when the call is first stored; the call is never
lost over it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from callscribe.config.base import ConfigPath
from callscribe.config.problems import Problem, readable_folder
from callscribe.connectors.base import Emit
from callscribe.connectors.settings import SourceSettings
from callscribe.connectors.sources.freepbx_names import read_name
from callscribe.connectors.sources.sidecar import read_sidecar, sidecar_path
from callscribe.domain import CallEvent, Direction, RecordingRef
from callscribe.store.base import Ingested

log = logging.getLogger(__name__)

AUDIO_PATTERNS = ("*.wav", "*.WAV", "*.mp3", "*.ogg", "*.opus", "*.flac")


class DirectorySourceConfig(SourceSettings):
    type: Literal["directory"]
    path: ConfigPath = Field(description="The folder to watch.")
    patterns: tuple[str, ...] = Field(
        AUDIO_PATTERNS, min_length=1, description="File name patterns that are recordings."
    )
    recursive: bool = Field(
        False, description="Also look in sub-folders (FreePBX files recordings under YYYY/MM/DD)."
    )
    settle_seconds: float = Field(
        5.0,
        ge=0.0,
        description="A recording and its sidecar unchanged this long = complete; a sidecar "
        "must be in place by then.",
    )
    poll_seconds: float = Field(2.0, gt=0.0, description="How often the folder is scanned.")
    direction: Direction = Field(
        Direction.UNKNOWN,
        description="Direction of calls whose file name and sidecar do not give one.",
    )
    names: Literal["freepbx", "none"] = Field(
        "freepbx",
        description="Read FreePBX recording names (in-DIALLED-CALLER-YYYYMMDD-HHMMSS-"
        "UNIQUEID.wav, out-…, internal-…, q-…, rg-…; docs/sources/directory.md) for "
        "direction, numbers, operator and time; 'none': names say nothing.",
    )
    timezone: str | None = Field(
        None,
        description="Time zone of the times in recording names, e.g. 'Europe/Moscow'; "
        "default: this machine's.",
    )

    def problems_on_this_host(self) -> list[Problem]:
        """The folder must be there and readable (``callscribe config validate``)."""
        why = readable_folder(self.path)
        return [] if why is None else [Problem("path", why)]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}; use a name such as 'Europe/Moscow'"
                ) from None
        return value


@dataclass(frozen=True, slots=True)
class _Stamp:
    size: int
    mtime_ns: int
    sidecar: tuple[int, int] | None  # its size and mtime, if there is one


@dataclass(slots=True)
class _Seen:
    stamp: _Stamp
    since: float  # monotonic time the file was first seen with this stamp


@dataclass(frozen=True, slots=True)
class Found:
    """A complete recording: its call, and what could not be read about it."""

    event: CallEvent
    problems: tuple[str, ...] = ()


class DirectorySource:
    def __init__(self, name: str, config: DirectorySourceConfig) -> None:
        self.name = name
        self.config = config
        self._zone: tzinfo | None = ZoneInfo(config.timezone) if config.timezone else None
        self._pending: dict[Path, _Seen] = {}
        self._emitted: set[str] = set()

    @property
    def local_dirs(self) -> tuple[Path, ...]:
        return (self.config.path,)

    async def run(self, emit: Emit) -> None:
        if not self.config.path.is_dir():
            log.error("source %s: %s is not a folder; watching for it", self.name, self.config.path)
        while True:
            for found in await asyncio.to_thread(self.scan, time.monotonic()):
                stored = await emit(found.event)
                self._emitted.add(found.event.external_id)
                # Said once, when the call is new: not again at every restart's rescan.
                new = not isinstance(stored, Ingested) or stored.created
                if found.problems and new:
                    log.warning(
                        "source %s: %s: %s; the call goes on without these details",
                        self.name,
                        found.event.raw["file"],
                        "; ".join(found.problems),
                    )
            await asyncio.sleep(self.config.poll_seconds)

    def scan(self, now: float) -> list[Found]:
        """The recordings that have just become complete."""
        ready: list[Found] = []
        present: set[Path] = set()
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue  # removed between listing and stat
            present.add(path)
            if self._external_id(path, stat.st_size, stat.st_mtime_ns) in self._emitted:
                continue
            stamp = _Stamp(stat.st_size, stat.st_mtime_ns, _sidecar_stamp(path))
            seen = self._pending.get(path)
            if seen is None or seen.stamp != stamp:
                self._pending[path] = _Seen(stamp, now)
                continue
            if now - seen.since >= self.config.settle_seconds:
                ready.append(self._found(path, stamp))
        for gone in set(self._pending) - present:
            del self._pending[gone]
        return ready

    def _files(self) -> list[Path]:
        folder = self.config.path
        if not folder.is_dir():
            return []
        found: set[Path] = set()
        for pattern in self.config.patterns:
            matches = folder.rglob(pattern) if self.config.recursive else folder.glob(pattern)
            found.update(p for p in matches if p.is_file())
        return sorted(found)

    def _external_id(self, path: Path, size: int, mtime_ns: int) -> str:
        return f"{path.relative_to(self.config.path).as_posix()}@{size}:{mtime_ns}"

    def _found(self, path: Path, stamp: _Stamp) -> Found:
        relative = path.relative_to(self.config.path).as_posix()
        details: dict[str, Any] = {
            "direction": self.config.direction,
            "ended_at": datetime.fromtimestamp(stamp.mtime_ns / 1e9, tz=UTC),
        }
        raw: dict[str, Any] = {}
        problems: list[str] = []
        if self.config.names == "freepbx":
            name = read_name(path.stem, self._zone)
            details |= name.fields
            if name.raw:
                raw["recording_name"] = name.raw
            problems += name.problems
        sidecar = read_sidecar(sidecar_path(path)) if stamp.sidecar else None
        if sidecar is not None:
            details |= sidecar.fields
            raw |= sidecar.raw
            problems += [f"sidecar {sidecar_path(path).name}: {p}" for p in sidecar.problems]
        event = CallEvent(
            source=self.name,
            external_id=self._external_id(path, stamp.size, stamp.mtime_ns),
            recordings=(RecordingRef(str(path), self.config.channels),),
            raw={**raw, "file": relative, "size": stamp.size},
            **details,
        )
        return Found(event, tuple(problems))


def _sidecar_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = sidecar_path(path).lstat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)
