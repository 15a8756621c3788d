"""Everything the daemon runs for one configuration: HTTP server, sources, workers,
scheduler.  A reload builds a new Runtime and stops the old one; the store and the
model outlive it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from callscribe import faults
from callscribe.config.routes import sinks_at_ingest
from callscribe.config.settings import Settings
from callscribe.config.store import Role
from callscribe.connectors.base import (
    JoiningSource,
    ReportingSource,
    RunningSource,
    SourceStatus,
    ThrottledSource,
    WebhookSource,
    single_instance,
)
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.registry import build_sink, build_source
from callscribe.connectors.settings import SourceSettings
from callscribe.daemon.decoding import DecoderPool
from callscribe.daemon.http import create_app
from callscribe.daemon.http import serve as serve_http
from callscribe.daemon.links import recording_links
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.pipeline import DECODED_AT_ONCE, Pipeline, warn_unrouted
from callscribe.daemon.recording_server import RecordingEndpoint, kept_file
from callscribe.daemon.retention import RetentionTimer
from callscribe.daemon.workers import Doorbell, Handler, Worker
from callscribe.domain import CallEvent, CallPart
from callscribe.errors import CallscribeError, ConfigError
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import CallParts, Ingested, JobKind, JobState
from callscribe.store.codec import utc_now
from callscribe.transcription.engine import Engine

log = logging.getLogger(__name__)

SOURCE_RESTART_DELAYS = (1.0, 2.0, 5.0, 15.0, 60.0)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        store: AsyncStoreApi,
        engine: Engine | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        # The daemon's, which outlives this runtime: counters go on across reloads.
        self.metrics = metrics or Metrics()
        self.metrics.configured(settings.transcription.model, settings.sources)
        self.doorbells = {kind: Doorbell() for kind in JobKind}
        self.sinks = {
            name: build_sink(name, config, settings.render)
            for name, config in settings.sinks.items()
        }
        self.sources = {
            name: build_source(name, config) for name, config in settings.sources.items()
        }
        self.decoder = DecoderPool(workers=min(DECODED_AT_ONCE, settings.daemon.transcribe_batch))
        self.fetcher = RecordingFetcher()
        self.links = recording_links(settings.daemon)
        self.pipeline = Pipeline(
            settings=settings,
            store=store,
            engine=engine,
            decoder=self.decoder,
            fetcher=self.fetcher,
            fetch_policies={name: self._fetch_policy(name) for name in self.sources},
            sources=self.sources,
            sinks=self.sinks,
            metrics=self.metrics,
            doorbells=self.doorbells,
            links=self.links,
        )
        self.metrics.watch_sources(self.source_statuses)
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._services: list[asyncio.Task[None]] = []
        self._scheduler = AsyncIOScheduler()
        self._status = "starting"
        self._retention = RetentionTimer()  # housekeeping is frequent, purging need not be
        self.roles = settings.node.roles

    def _fetch_policy(self, name: str) -> FetchPolicy:
        config: SourceSettings = self.settings.sources[name]
        local_dirs = tuple(getattr(self.sources[name], "local_dirs", ()))
        return config.fetch_policy(self.settings.daemon.max_recording_bytes, local_dirs)

    async def start(self) -> None:
        daemon = self.settings.daemon
        webhooks: Mapping[str, WebhookSource] = {
            name: source
            for name, source in self.sources.items()
            if isinstance(source, WebhookSource) and Role.INTAKE in self.roles
        }
        app = create_app(
            sources=webhooks,
            ingest=self.ingest,
            readiness=self.readiness,
            metrics=self.metrics,
            max_body_bytes=daemon.max_webhook_bytes,
            recordings=RecordingEndpoint(self.links, self._kept_recording) if self.links else None,
        )
        bound = asyncio.Event()
        http = self._spawn(
            self._services, serve_http(app, daemon.host, daemon.port, ready=bound), "http"
        )
        await _listening(http, bound, daemon.listen)
        log.info("listening on %s", daemon.listen)
        if daemon.public_url is not None:
            log.info("recording links are given as %s/recordings/...", daemon.public_url)
            if daemon.public_url.startswith("http://"):
                log.warning(
                    "[daemon] public_url is plain http: recording links, and the calls they "
                    "open, cross the network unencrypted; put an https proxy in front"
                )
        for name, source in self.sources.items():
            if isinstance(source, RunningSource) and Role.SOURCES in self.roles:
                self._spawn(self._services, self._run_source(source), f"source-{name}")
        if Role.TRANSCRIBE in self.roles:
            self.decoder.warm()
        self._start_workers()
        self._scheduler.add_job(self.housekeeping, "interval", seconds=daemon.sweep_seconds)
        self._scheduler.start()
        await self.housekeeping()

    def _start_workers(self) -> None:
        daemon = self.settings.daemon

        def workers(kind: JobKind, handler: Handler, count: int, **extra: Any) -> list[Worker]:
            return [
                Worker(
                    self.store,
                    kind,
                    handler,
                    doorbell=self.doorbells[kind],
                    lease_seconds=daemon.lease_seconds,
                    heartbeat_seconds=daemon.heartbeat_seconds,
                    **extra,
                )
                for _ in range(count)
            ]

        fetchers: list[Worker] = []
        transcribers: list[Worker] = []
        deliverers: list[Worker] = []
        if Role.TRANSCRIBE in self.roles:
            fetchers = workers(JobKind.FETCH, self.pipeline.fetch, daemon.fetch_workers)
            transcribers = workers(
                JobKind.TRANSCRIBE,
                self.pipeline.transcribe,
                1,
                batch=daemon.transcribe_batch,
                upstream_busy=lambda: any(fetcher.busy for fetcher in fetchers),
                gather_seconds=daemon.transcribe_gather_seconds,
            )
        if Role.DELIVER in self.roles:
            deliverers = workers(JobKind.DELIVER, self.pipeline.deliver, daemon.delivery_workers)
        for worker in fetchers + transcribers + deliverers:
            self._spawn(self._workers, worker.run(self._stopping), worker.name)

    async def _kept_recording(self, call_id: int) -> Path | None:
        recording = await self.store.recording(call_id)
        return kept_file(recording, self.settings.daemon.recordings_dir)

    async def ingest(self, item: CallEvent | CallPart) -> Ingested | None:
        """Store one event, or one part of a call; returns once it is committed (the
        webhook may then be acknowledged).  None: a part kept until its call is whole."""
        if isinstance(item, CallPart):
            return await self._add_part(item)
        return await self._ingest_event(item)

    async def _ingest_event(self, event: CallEvent) -> Ingested:
        missed_sinks = sinks_at_ingest(self.settings.routes, event)
        ingested = await self.store.ingest(event, missed_sinks)
        self.metrics.received(event.source, duplicate=not ingested.created)
        if ingested.created and not event.recordings and not missed_sinks:
            warn_unrouted(ingested.call_id or 0)
        if ingested.created:
            self.doorbells[JobKind.FETCH if event.recordings else JobKind.DELIVER].ring()
        return ingested

    async def _add_part(self, part: CallPart) -> Ingested | None:
        source = self.sources.get(part.source)
        if not isinstance(source, JoiningSource):
            raise CallscribeError(f"source {part.source} sent a call part but joins none")
        waiting = await self.store.add_call_part(part)
        faults.reach("part.stored")
        if waiting is None:
            log.warning(
                "source %s: the %s notification of call %s came after the call was stored; "
                "it is not part of it",
                part.source,
                part.part,
                part.external_id,
            )
            return Ingested(call_id=None, created=False)
        return await self._join(source, waiting)

    async def _join(self, source: JoiningSource, waiting: CallParts) -> Ingested | None:
        waited = (utc_now() - waiting.first_received_at).total_seconds()
        event = source.join(waiting.external_id, waiting.parts, waited)
        if event is None:
            return None
        if (event.source, event.external_id) != (waiting.source, waiting.external_id):
            raise CallscribeError(
                f"source {source.name} joined call {waiting.external_id} into another call"
            )
        return await self._ingest_event(event)

    async def join_waiting_parts(self) -> None:
        """Ask the sources about every call still waiting for parts: a recording that
        never came gives the call without it, once the source stops waiting."""
        for waiting in await self.store.call_parts():
            source = self.sources.get(waiting.source)
            if not isinstance(source, JoiningSource):
                continue  # its source left the configuration; kept until it comes back
            try:
                await self._join(source, waiting)
            except CallscribeError as exc:
                log.error("source %s: call %s: %s", source.name, waiting.external_id, exc)

    def readiness(self) -> dict[str, bool]:
        return {
            "store": not self._stopping.is_set() and self.store.ready(),
            "model": self.engine is not None or Role.TRANSCRIBE not in self.roles,
            "workers": all(not task.done() for task in self._workers),
            **{f"source {name}": status.ready for name, status in self.source_statuses().items()},
        }

    def source_statuses(self) -> dict[str, SourceStatus]:
        """The links of the running sources that hold one (AMI)."""
        return {
            name: source.status()
            for name, source in self.sources.items()
            if isinstance(source, ReportingSource)
        }

    def status(self) -> str:
        return self._status

    async def housekeeping(self) -> None:
        """Requeue stalled jobs, refresh the figures shown in metrics and STATUS=, and
        apply the retention policy (at most once a minute)."""
        faults.reach("housekeeping")
        try:
            swept = await self.store.sweep()
            counts = await self.store.job_counts()
            oldest = await self.store.oldest_queued_at()
        except CallscribeError as exc:
            log.error("housekeeping failed: %s", exc)
            return
        if swept:
            log.warning("requeued or buried %d job(s) whose worker stopped", swept)
        await self.join_waiting_parts()
        self.metrics.refresh(counts, oldest)
        for name, source in self.sources.items():
            if isinstance(source, ThrottledSource):
                self.metrics.api_paused(name, source.api_paused_seconds())
        self._status = (
            "queued: "
            + ", ".join(
                f"{kind.value} {counts.get((kind, JobState.QUEUED), 0)}" for kind in JobKind
            )
            + f"; dead: {sum(n for (_, state), n in counts.items() if state is JobState.DEAD)}"
        )
        await self._retention(self.store, self.settings)

    async def _run_source(self, source: RunningSource) -> None:
        """Run a source, on one node at a time when it must not run twice."""
        if single_instance(source):
            await self.store.run_exclusively(
                f"source {source.name}", lambda: self._keep_running(source)
            )
        else:
            await self._keep_running(source)

    async def _keep_running(self, source: RunningSource) -> None:
        failures = 0
        while True:
            try:
                await source.run(self.ingest)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = SOURCE_RESTART_DELAYS[min(failures, len(SOURCE_RESTART_DELAYS) - 1)]
                log.exception("source %s failed; restarting it in %.0f s", source.name, delay)
                failures += 1
                await asyncio.sleep(delay)

    async def stop(self, timeout: float) -> None:
        """Stop taking work; let running jobs finish within ``timeout``, then give back
        what is left; close everything this runtime opened."""
        self._stopping.set()
        for doorbell in self.doorbells.values():
            doorbell.ring()
        self._scheduler.shutdown(wait=False)
        if self._workers:
            _, unfinished = await asyncio.wait(self._workers, timeout=timeout)
            await _cancel(unfinished)
        await _cancel(self._services)
        for sink in self.sinks.values():
            await sink.aclose()
        await self.fetcher.aclose()
        await asyncio.to_thread(self.decoder.close)

    def _spawn(
        self, bag: list[asyncio.Task[None]], work: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        bag.append(task)
        return task


async def _listening(server: asyncio.Task[None], bound: asyncio.Event, listen: str) -> None:
    """Returns once the webhook server listens; a server that could not bind ends the
    start with the reason, where waiting for ``bound`` alone would hang unserved forever
    (and deaf to SIGTERM, which only stops a started runtime)."""
    waiter = asyncio.create_task(bound.wait())
    try:
        await asyncio.wait((server, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if bound.is_set():
        return
    try:
        server.result()
    except OSError as exc:
        raise ConfigError(
            f"[daemon] listen = {listen!r}: {exc}; is another program, or another "
            "callscribe, using that port?"
        ) from exc
    raise ConfigError(f"[daemon] listen = {listen!r}: the webhook server ended before listening")


async def _cancel(tasks: Any) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
