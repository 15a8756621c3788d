"""Append one JSON line per delivered call to a file: an archive, or a hand-off to any
tool that tails files."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from callscribe.config import RenderSettings
from callscribe.config.base import ConfigModel, ConfigPath
from callscribe.config.problems import Problem, writable_file
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.payload import call_document
from callscribe.domain import Call, Transcript
from callscribe.errors import SinkError, located


class JsonlSinkConfig(ConfigModel):
    type: Literal["jsonl"]
    path: ConfigPath = Field(description="File the lines are appended to (created if missing).")

    def problems_on_this_host(self) -> list[Problem]:
        """The file must be writable, or creatable (``callscribe config validate``)."""
        why = writable_file(self.path)
        return [] if why is None else [Problem("path", why)]


class JsonlSink:
    """Writes each delivery at most once per idempotency key, even after a crash between
    writing the line and recording the delivery: keys already in the file are skipped."""

    def __init__(self, name: str, config: JsonlSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.path = config.path
        self._labels = labels
        self._keys: set[str] | None = None
        self._lock = asyncio.Lock()

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        key = context.key
        line = json.dumps(call_document(call, transcript, key, self._labels), ensure_ascii=False)
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, key, line)
            except OSError as exc:
                # A full disk or a missing mount may come back; a path that is a folder
                # will not, but retrying it costs nothing and the reason is stored.
                reason = located(f"cannot write the file ({exc.strerror or exc})", str(self.path))
                raise SinkError(reason, retryable=True) from exc
        return None

    async def aclose(self) -> None:
        return None

    def _append(self, key: str, line: str) -> None:
        if self._keys is None:
            self._keys = _keys_in(self.path)
        if key in self._keys:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            size = os.fstat(fd).st_size
            # A crash mid-write leaves a line without its newline; start a fresh one.
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, ("\n" if torn else "").encode() + (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._keys.add(key)


def _keys_in(path: Path) -> set[str]:
    keys: set[str] = set()
    if not path.exists():
        return keys
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                key = json.loads(line).get("idempotency_key")
            except (ValueError, AttributeError):
                continue  # a line cut short by a crash, or someone else's line
            if isinstance(key, str):
                keys.add(key)
    return keys
