"""The daemon's webhook path without the model: a real :class:`Runtime` (its ``ingest``,
call-part joining and housekeeping) behind the real HTTP server on loopback, with a real
SQLite store.  Nothing is transcribed: the runtime is never started, so no worker runs;
tests drive the fetch stage themselves when they need it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from callscribe.config.settings import Settings
from callscribe.connectors.base import WebhookSource
from callscribe.daemon.http import create_app, serve
from callscribe.daemon.runtime import Runtime
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import JobKind
from callscribe.store.sqlite import SqliteStore
from callscribe.transcription.engine import Engine


@dataclass
class Hooks:
    runtime: Runtime
    store: SqliteStore  # the same database, read from the test's thread
    url: str

    def hook(self, source: str, path: str = "") -> str:
        return f"{self.url}/hooks/{source}{path}"

    def calls(self, source: str | None = None) -> list[Any]:
        return self.store.calls(limit=10_000, source=source)

    def waiting(self) -> list[Any]:
        return self.store.call_parts()

    async def fetch(self) -> int:
        """Run the fetch stage once on the FETCH jobs due now, as a worker would."""
        jobs = await self.runtime.store.claim([JobKind.FETCH], "test", 60, limit=100)
        await self.runtime.pipeline.fetch(jobs)
        return len(jobs)

    def holds(self, secret: str) -> bool:
        """Whether the database (or its WAL) holds ``secret`` anywhere."""
        database = self.runtime.settings.daemon.database_path
        files = [database, database.with_name(database.name + "-wal")]
        return any(secret.encode() in path.read_bytes() for path in files if path.exists())


def settings_for(state: Path, sources: Mapping[str, Any], **extra: Any) -> Settings:
    """Settings with ``sources``, a JSONL sink ``archive`` and one route for all calls."""
    return Settings.model_validate(
        {
            "daemon": {"state_dir": str(state)},
            "sources": dict(sources),
            "sinks": {"archive": {"type": "jsonl", "path": str(state / "archive.jsonl")}},
            "routes": [{"sinks": ["archive"], "calls": "all"}],
            **extra,
        }
    )


@asynccontextmanager
async def hook_server(settings: Settings) -> AsyncIterator[Hooks]:
    path = settings.daemon.database_path
    store = await AsyncStore.open(lambda: SqliteStore(path))
    # The engine is only used by workers, which never start here.
    runtime = Runtime(settings, store, cast(Engine, None))
    webhooks = {n: s for n, s in runtime.sources.items() if isinstance(s, WebhookSource)}
    app = create_app(
        sources=webhooks, ingest=runtime.ingest, readiness=dict, metrics=runtime.metrics
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, ready=ready, sockets=[sock]))
    await asyncio.wait_for(ready.wait(), 10)
    reader = SqliteStore(path)
    try:
        yield Hooks(runtime, reader, f"http://127.0.0.1:{port}")
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        reader.close()
        await asyncio.to_thread(runtime.decoder.close)
        await store.aclose()


async def post(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, **kwargs)


async def get(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url, **kwargs)
