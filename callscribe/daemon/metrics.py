"""The daemon's Prometheus metrics, served at ``/metrics``.

Every series is named ``callscribe_…``.  Counters are incremented where things happen
(the HTTP server, the pipeline, the sinks); the job gauges are refreshed from the store's
own figures before each scrape, so they are right after a restart and for every machine
sharing a PostgreSQL store.

Each :class:`Metrics` owns a private registry rather than prometheus_client's global
one: a test (or two daemons in one process) can create as many as it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from callscribe.connectors.base import SourceStatus
from callscribe.store.base import JobKind, JobState

NAMESPACE = "callscribe"


class Metrics:
    """Counters and gauges of one daemon, in their own registry."""

    content_type: str = CONTENT_TYPE_LATEST
    """The ``Content-Type`` of :meth:`render`'s output (the Prometheus text format)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls_received = self._counter(
            "calls_received",
            "Calls stored for the first time, by source (duplicates are not counted).",
            "source",
        )
        self.webhooks = self._counter(
            "webhooks", "Webhook requests answered, by source and HTTP status.", "source", "status"
        )
        self.transcription_seconds = self._counter(
            "transcription_seconds", "Wall-clock seconds spent transcribing."
        )
        self.audio_seconds = self._counter("audio_seconds", "Seconds of call audio transcribed.")
        self.deliveries = self._counter(
            "deliveries",
            "Delivery attempts, by sink and outcome (delivered, retry, failed).",
            "sink",
            "outcome",
        )
        self.jobs = Gauge(
            "jobs",
            "Jobs in the store, by kind and state.",
            ["kind", "state"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.source_api_paused = Gauge(
            "source_api_paused_seconds",
            "Seconds until a source calls its vendor's API again after the vendor turned it "
            "away (Mango blocks its API after invalid requests); 0 when it may.",
            ["source"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.queue_lag = Gauge(
            "queue_lag_seconds",
            "Age of the oldest queued job whose time has come (0 when none is waiting).",
            namespace=NAMESPACE,
            registry=self.registry,
        )

        self.source_up = self._gauge(
            "source_up",
            "1 while a running source is connected to its PBX (AMI logged in), else 0.",
            "source",
        )
        self.source_connects = self._gauge(
            "source_connects",
            "Times a running source connected to its PBX since the daemon started; more "
            "than 1 means it reconnected.",
            "source",
        )
        self.source_state = self._gauge(
            "source_state",
            "The state of a running source's link (1 for the current one, e.g. "
            "'connected', 'connecting', 'down', 'login refused').",
            "source",
            "state",
        )
        self._sources: Callable[[], Mapping[str, SourceStatus]] = dict
        self._states: dict[str, set[str]] = {}

    def watch_sources(self, statuses: Callable[[], Mapping[str, SourceStatus]]) -> None:
        """Read the running sources' links afresh at every scrape."""
        self._sources = statuses

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, namespace=NAMESPACE, registry=self.registry)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, namespace=NAMESPACE, registry=self.registry)

    def webhook(self, source: str, status: int) -> None:
        """Count one answered webhook request."""
        self.webhooks.labels(source=source, status=str(status)).inc()

    def received(self, source: str, *, duplicate: bool = False) -> None:
        """Count one event the store accepted; a duplicate is not a new call.  Called by
        the daemon's ingest, which every source (webhook or running) goes through."""
        # Touching the label makes the series exist (at 0) from the first event on.
        counter = self.calls_received.labels(source=source)
        if not duplicate:
            counter.inc()

    def transcribed(self, transcription_seconds: float, audio_seconds: float) -> None:
        """Count one batch of transcriptions: wall-clock seconds and seconds of audio."""
        self.transcription_seconds.inc(max(0.0, transcription_seconds))
        self.audio_seconds.inc(max(0.0, audio_seconds))

    def delivered(self, sink: str, outcome: str) -> None:
        """Count one delivery attempt's outcome (``delivered``, ``retry``, ``failed``)."""
        self.deliveries.labels(sink=sink, outcome=outcome).inc()

    def api_paused(self, source: str, seconds: float) -> None:
        """Set how long ``source`` still stays away from its vendor's API."""
        self.source_api_paused.labels(source=source).set(max(0.0, seconds))

    def refresh(
        self,
        counts: Mapping[tuple[JobKind, JobState], int],
        oldest_queued_at: datetime | None,
        now: datetime | None = None,
    ) -> None:
        """Set the job gauges from the store's figures (``Store.job_counts`` and
        ``Store.oldest_queued_at``); ``now`` defaults to the current time (tests pass it).

        Every kind × state pair is set, zero when absent, so a series drops to 0 instead
        of keeping its last value when the last job of its kind leaves that state.
        """
        for kind in JobKind:
            for state in JobState:
                self.jobs.labels(kind=kind.value, state=state.value).set(
                    counts.get((kind, state), 0)
                )
        now = now or datetime.now(UTC)
        lag = 0.0 if oldest_queued_at is None else (now - oldest_queued_at).total_seconds()
        self.queue_lag.set(max(0.0, lag))

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        for name, status in self._sources().items():
            self.source_up.labels(source=name).set(1 if status.ready else 0)
            self.source_connects.labels(source=name).set(status.connects)
            seen = self._states.setdefault(name, set())
            seen.add(status.state)
            for state in seen:  # a state left drops to 0 rather than keeping its 1
                self.source_state.labels(source=name, state=state).set(state == status.state)
        return generate_latest(self.registry)
