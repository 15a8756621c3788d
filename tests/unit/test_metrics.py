"""The daemon's metrics as Prometheus users expect them, read back with prometheus_client's
own text-format parser: types, no ``_created`` twins, process metrics, histograms, build
information, per-source gauges gone with their source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from callscribe import __version__
from callscribe.daemon.metrics import Metrics
from callscribe.domain import Call, CallEvent, CallState
from callscribe.store.base import JobKind, JobState

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# Every family of callscribe's own, with its type.
SERIES = {
    "callscribe_build_info": "gauge",  # an Info, as the text format carries it
    "callscribe_calls_received": "counter",
    "callscribe_webhooks": "counter",
    "callscribe_recording_download_seconds": "histogram",
    "callscribe_transcription_seconds": "counter",
    "callscribe_audio_seconds": "counter",
    "callscribe_transcription_realtime_factor": "histogram",
    "callscribe_deliveries": "counter",
    "callscribe_delivery_latency_seconds": "histogram",
    "callscribe_jobs": "gauge",
    "callscribe_queue_lag_seconds": "gauge",
    "callscribe_source_api_paused_seconds": "gauge",
    "callscribe_source_up": "gauge",
    "callscribe_source_connects": "gauge",
    "callscribe_source_state": "gauge",
}
PROCESS = {
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
}


def scrape(metrics: Metrics) -> dict[str, tuple[str, list[Sample]]]:
    """Each family by name: its type and samples."""
    text = metrics.render().decode()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{len(found)} series {name}{labels}"
    return found[0]


def call(ended: datetime | None, received: datetime) -> Call:
    event = CallEvent(source="pbx", external_id="1", ended_at=ended)
    return Call(id=1, event=event, state=CallState.TRANSCRIBED, received_at=received)


def test_series_types_and_no_created_twins() -> None:
    metrics = Metrics()
    metrics.configured("base", {"pbx"})
    metrics.received("pbx")
    metrics.webhook("pbx", 200)
    metrics.downloaded("pbx", 0.4)
    metrics.transcribed(6.0, 60.0)
    metrics.delivered("helpdesk", "retry")
    metrics.refresh({(JobKind.DELIVER, JobState.DEAD): 2}, NOW - timedelta(seconds=30), NOW)
    families = scrape(metrics)

    ours = {name: kind for name, (kind, _) in families.items() if name.startswith("callscribe")}
    assert ours == SERIES
    every_sample = [s.name for _, samples in families.values() for s in samples]
    assert not [name for name in every_sample if name.endswith("_created")]

    _, build = families["callscribe_build_info"]
    assert value(build, "callscribe_build_info", version=__version__, model="base") == 1.0
    assert {name: families[name][0] for name in PROCESS} == PROCESS
    _, rtf = families["callscribe_transcription_realtime_factor"]
    assert value(rtf, "callscribe_transcription_realtime_factor_count") == 1.0
    assert value(rtf, "callscribe_transcription_realtime_factor_bucket", le="0.1") == 1.0
    assert value(rtf, "callscribe_transcription_realtime_factor_bucket", le="0.05") == 0.0
    _, download = families["callscribe_recording_download_seconds"]
    assert value(download, "callscribe_recording_download_seconds_sum", source="pbx") == 0.4
    _, jobs = families["callscribe_jobs"]
    assert value(jobs, "callscribe_jobs", kind="deliver", state="dead") == 2.0
    assert value(jobs, "callscribe_jobs", kind="fetch", state="queued") == 0.0
    _, lag = families["callscribe_queue_lag_seconds"]
    assert value(lag, "callscribe_queue_lag_seconds") == 30.0


def test_delivery_latency_counts_from_the_call_end_and_leaves_backfills_out() -> None:
    metrics = Metrics()
    ended = NOW - timedelta(minutes=3)
    metrics.delivered_call("helpdesk", call(ended, ended + timedelta(seconds=20)), NOW)
    no_end = call(None, NOW - timedelta(seconds=40))  # from the time it was received
    metrics.delivered_call("helpdesk", no_end, NOW)
    old = NOW - timedelta(days=30)  # backfilled today: its latency is not the pipeline's
    metrics.delivered_call("helpdesk", call(old, NOW - timedelta(minutes=5)), NOW)
    _, latency = scrape(metrics)["callscribe_delivery_latency_seconds"]
    assert value(latency, "callscribe_delivery_latency_seconds_count", sink="helpdesk") == 2.0
    assert value(latency, "callscribe_delivery_latency_seconds_sum", sink="helpdesk") == 220.0
    _, deliveries = scrape(metrics)["callscribe_deliveries"]
    total = "callscribe_deliveries_total"
    assert value(deliveries, total, sink="helpdesk", outcome="delivered") == 3.0


def test_a_new_configuration_keeps_counters_and_drops_gone_sources_gauges() -> None:
    metrics = Metrics()
    metrics.configured("base", {"mango", "old"})
    metrics.received("mango")
    metrics.api_paused("mango", 0.0)
    metrics.api_paused("old", 120.0)
    metrics.configured("small", {"mango"})  # a reload: "old" left, another model
    families = scrape(metrics)
    _, paused = families["callscribe_source_api_paused_seconds"]
    assert [s.labels for s in paused] == [{"source": "mango"}]
    _, received = families["callscribe_calls_received"]
    assert value(received, "callscribe_calls_received_total", source="mango") == 1.0
    assert value(received, "callscribe_calls_received_total", source="old") == 0.0  # kept
    _, build = families["callscribe_build_info"]
    assert [s.labels["model"] for s in build] == ["small"]
