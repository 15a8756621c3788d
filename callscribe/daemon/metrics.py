"""The daemon's Prometheus metrics, served at ``/metrics`` (docs/operations.md).

Every series of callscribe's own is named ``callscribe_…``; the process's CPU, memory
and open files come as ``process_…`` and Python's as ``python_…``, as prometheus_client's
default registry would give them.  One :class:`Metrics` lives as long as the daemon's
process: a reload (SIGHUP) builds a new runtime but keeps counting in the same series.

Counters and histograms are updated where things happen (the HTTP server, the pipeline,
the sinks); the job gauges are refreshed from the store's own figures before each scrape,
so they are right after a restart and for every machine sharing a PostgreSQL store.

Each :class:`Metrics` owns a private registry rather than prometheus_client's global one:
a test (or two daemons in one process) can create as many as it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from callscribe import __version__
from callscribe.connectors.base import SourceStatus
from callscribe.domain import Call
from callscribe.store.base import JobKind, JobState

NAMESPACE = "callscribe"

# A ``…_created`` twin per counter and histogram (the time it was created) is the
# OpenMetrics habit; in the text format Prometheus scrapes it is one more series per
# series that no query uses.  prometheus_client's documented switch turns them off.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

# Bucket bounds, in the unit of each histogram.
DOWNLOAD_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REALTIME_FACTOR = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
DELIVERY_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0, 43200.0)

# A call received this long after it ended came from a backfill: how long it took to
# deliver says nothing about the pipeline, and would swamp the latency's buckets.
LIVE_CALL_WITHIN = timedelta(days=1)


class Metrics:
    """Counters, gauges and histograms of one daemon, in their own registry."""

    content_type: str = CONTENT_TYPE_LATEST
    """The ``Content-Type`` of :meth:`render`'s output (the Prometheus text format)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.build_info = Info(
            "build",
            "The running callscribe: its version and the speech model it loaded.",
            namespace=NAMESPACE,
            registry=self.registry,
        )

        # Calls in
        self.calls_received = self._counter(
            "calls_received",
            "Calls stored for the first time, by source (duplicates are not counted).",
            "source",
        )
        self.webhooks = self._counter(
            "webhooks", "Webhook requests answered, by source and HTTP status.", "source", "status"
        )

        # The pipeline
        self.download_seconds = self._histogram(
            "recording_download_seconds",
            "Time to fetch one recording, by source (downloads that failed are not counted).",
            DOWNLOAD_SECONDS,
            "source",
        )
        self.transcription_seconds = self._counter(
            "transcription_seconds", "Wall-clock seconds spent transcribing."
        )
        self.audio_seconds = self._counter("audio_seconds", "Seconds of call audio transcribed.")
        self.realtime_factor = self._histogram(
            "transcription_realtime_factor",
            "Seconds of recognition per second of audio, for each group of calls recognised "
            "together (0.1: ten times faster than the calls last).",
            REALTIME_FACTOR,
        )

        # Calls out
        self.deliveries = self._counter(
            "deliveries",
            "Delivery attempts, by sink and outcome (delivered, retry, failed).",
            "sink",
            "outcome",
        )
        self.delivery_latency = self._histogram(
            "delivery_latency_seconds",
            "Time from the end of a call to its delivery, by sink (calls received more than "
            "a day after they ended, from a backfill, are left out).",
            DELIVERY_SECONDS,
            "sink",
        )

        # The store
        self.jobs = self._gauge("jobs", "Jobs in the store, by kind and state.", "kind", "state")
        self.queue_lag = self._gauge(
            "queue_lag_seconds",
            "Age of the oldest queued job whose time has come (0 when none is waiting).",
        )

        # Sources: a gauge with a "source" label is listed in _per_source, so that a
        # source taken out of the configuration by a reload takes its series with it.
        self.source_api_paused = self._gauge(
            "source_api_paused_seconds",
            "Seconds until a source calls its vendor's API again after the vendor turned it "
            "away (Mango blocks its API after invalid requests); 0 when it may.",
            "source",
        )
        self._per_source: tuple[Gauge, ...] = (self.source_api_paused,)

        self.source_up = self._gauge(
            "source_up",
            "1 while a running source is connected to its PBX (AMI logged in), else 0.",
            "source",
        )
        self.source_connects = self._gauge(
            "source_connects",
            "Times a running source connected to its PBX since it started (a reload restarts "
            "it); more "
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
        self._per_source += (self.source_up, self.source_connects, self.source_state)
        self._sources: Callable[[], Mapping[str, SourceStatus]] = dict
        self._states: dict[str, set[str]] = {}

    def watch_sources(self, statuses: Callable[[], Mapping[str, SourceStatus]]) -> None:
        """Read the running sources' links afresh at every scrape."""
        self._sources = statuses

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, namespace=NAMESPACE, registry=self.registry)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, namespace=NAMESPACE, registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, buckets: tuple[float, ...], *labels: str
    ) -> Histogram:
        return Histogram(
            name,
            documentation,
            labels,
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=buckets,
        )

    def configured(self, model: str, sources: Collection[str]) -> None:
        """A configuration starts (at start-up and at each reload): the model it loaded,
        and the sources it has (their call counters start at 0; the per-source gauges of
        sources no longer configured are dropped)."""
        self.build_info.info({"version": __version__, "model": model})
        for source in sources:  # at 0 from the start: "no calls for 2 hours" can be asked
            self.calls_received.labels(source=source)
        for gauge in self._per_source:
            for labels in _series(gauge):
                if labels["source"] not in sources:
                    gauge.remove(*labels.values())
        for gone in set(self._states) - set(sources):
            del self._states[gone]

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

    def downloaded(self, source: str, seconds: float) -> None:
        """One recording fetched in ``seconds``."""
        self.download_seconds.labels(source=source).observe(max(0.0, seconds))

    def transcribed(self, transcription_seconds: float, audio_seconds: float) -> None:
        """Count one group of calls recognised together: wall-clock seconds and seconds
        of audio."""
        self.transcription_seconds.inc(max(0.0, transcription_seconds))
        self.audio_seconds.inc(max(0.0, audio_seconds))
        if audio_seconds > 0:
            self.realtime_factor.observe(max(0.0, transcription_seconds) / audio_seconds)

    def delivered(self, sink: str, outcome: str) -> None:
        """Count one delivery attempt's outcome (``delivered``, ``retry``, ``failed``)."""
        self.deliveries.labels(sink=sink, outcome=outcome).inc()

    def delivered_call(self, sink: str, call: Call, now: datetime | None = None) -> None:
        """Count a delivery done, and how long after the call's end it came."""
        self.delivered(sink, "delivered")
        ended = call.event.ended_at
        if ended is None or ended.tzinfo is None:  # a source that gave no usable end
            ended = call.received_at
        if call.received_at - ended > LIVE_CALL_WITHIN:
            return
        latency = ((now or datetime.now(UTC)) - ended).total_seconds()
        self.delivery_latency.labels(sink=sink).observe(max(0.0, latency))

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


def _series(gauge: Gauge) -> list[dict[str, str]]:
    """The labels of each series a gauge has, in the order its label names were given
    (the order ``remove`` takes them in)."""
    return [sample.labels for family in gauge.collect() for sample in family.samples]
