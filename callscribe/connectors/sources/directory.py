"""A folder of recordings as a source: every complete audio file becomes a call.

A file is complete once its size and modification time have not changed for
``settle_seconds`` (a PBX may still be writing it).  The folder is scanned again at every
start, so files dropped while the daemon was down are picked up; the store ignores files
it has already seen, because a file's identity (its path, size and modification time) is
its ``external_id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from callscribe.config.base import ConfigPath
from callscribe.connectors.base import Emit
from callscribe.connectors.settings import SourceSettings
from callscribe.domain import CallEvent, Direction, RecordingRef

log = logging.getLogger(__name__)

AUDIO_PATTERNS = ("*.wav", "*.WAV", "*.mp3", "*.ogg", "*.opus", "*.flac")


class DirectorySourceConfig(SourceSettings):
    type: Literal["directory"]
    path: ConfigPath = Field(description="The folder to watch.")
    patterns: tuple[str, ...] = Field(
        AUDIO_PATTERNS, min_length=1, description="File name patterns that are recordings."
    )
    recursive: bool = Field(False, description="Also look in sub-folders.")
    settle_seconds: float = Field(5.0, ge=0.0, description="Unchanged this long = complete.")
    poll_seconds: float = Field(2.0, gt=0.0, description="How often the folder is scanned.")
    direction: Direction = Field(Direction.UNKNOWN, description="Direction given to its calls.")


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time the file was first seen with this size and mtime


class DirectorySource:
    def __init__(self, name: str, config: DirectorySourceConfig) -> None:
        self.name = name
        self.config = config
        self._pending: dict[Path, _Seen] = {}
        self._emitted: set[str] = set()

    @property
    def local_dirs(self) -> tuple[Path, ...]:
        return (self.config.path,)

    async def run(self, emit: Emit) -> None:
        if not self.config.path.is_dir():
            log.error("source %s: %s is not a folder; watching for it", self.name, self.config.path)
        while True:
            for event in await asyncio.to_thread(self.scan, time.monotonic()):
                await emit(event)
                self._emitted.add(event.external_id)
            await asyncio.sleep(self.config.poll_seconds)

    def scan(self, now: float) -> list[CallEvent]:
        """Events for files that have just become complete."""
        ready: list[CallEvent] = []
        present: set[Path] = set()
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue  # removed between listing and stat
            present.add(path)
            seen = self._pending.get(path)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._pending[path] = _Seen(stat.st_size, stat.st_mtime_ns, now)
                continue
            if now - seen.since < self.config.settle_seconds:
                continue
            event = self._event(path, seen)
            if event.external_id not in self._emitted:
                ready.append(event)
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

    def _event(self, path: Path, seen: _Seen) -> CallEvent:
        relative = path.relative_to(self.config.path).as_posix()
        ended = datetime.fromtimestamp(seen.mtime_ns / 1e9, tz=UTC)
        return CallEvent(
            source=self.name,
            external_id=f"{relative}@{seen.size}:{seen.mtime_ns}",
            direction=self.config.direction,
            ended_at=ended,
            recordings=(RecordingRef(str(path), self.config.channels),),
            raw={"file": relative, "size": seen.size},
        )
