"""``/metrics`` of a real daemon, read with prometheus_client's text-format parser: the
series and their types, no ``_created`` twins, process metrics, build information, the
histograms after a call went through, and counters that a SIGHUP reload does not reset."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from callscribe import __version__
from callscribe.testing import Daemon, FileServer, SinkServer, free_port, running, wait_for
from tests.samples import SAMPLES
from tests.unit.test_metrics import PROCESS, SERIES, value

pytestmark = pytest.mark.slow

TOKEN = "metrics-token-0123456789abcdef"
HEADERS = {"authorization": f"Bearer {TOKEN}"}

TYPES = SERIES | PROCESS


def config(state: Path, port: int, files: FileServer, sink: SinkServer, sources: list[str]) -> str:
    text = f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
sweep_seconds = 1

[sinks.helpdesk]
type = "webhook"
url = "{sink.url}/calls"

[[routes]]
sinks = ["helpdesk"]
"""
    for name in sources:
        text += f"""
[sources.{name}]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{files.port}]
"""
    return text


def scrape(daemon: Daemon) -> tuple[dict[str, str], list[Sample]]:
    """The type of each family, and every sample."""
    text = httpx.get(f"{daemon.url}/metrics", timeout=10).text
    families = list(text_string_to_metric_families(text))
    return {f.name: f.type for f in families}, [s for f in families for s in f.samples]


def post_call(daemon: Daemon, files: FileServer, call_id: str) -> None:
    body = {
        "id": call_id,
        "ended_at": datetime.now(UTC).isoformat(),
        "recording_url": f"{files.url}/short.wav",
    }
    answer = httpx.post(f"{daemon.url}/hooks/pbx", json=body, headers=HEADERS, timeout=30)
    assert answer.status_code == 200


def test_metrics_as_prometheus_expects_them_across_a_reload(
    tmp_path: Path, model_dir: Path
) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    sf.write(recordings / "short.wav", audio[: 6 * rate], rate, subtype="PCM_16")
    files, sink = FileServer(recordings), SinkServer()
    port, state, path = free_port(), tmp_path / "state", tmp_path / "c.toml"
    daemon = Daemon(path, port, model_dir, tmp_path / "daemon.log")
    with files, sink:
        path.write_text(config(state, port, files, sink, ["pbx"]), "utf-8")
        with running(daemon):
            post_call(daemon, files, "m-1")
            wait_for(lambda: sink.tickets_for("m-1") == 1, 120, "the first call's ticket")
            types, samples = scrape(daemon)
            assert {name: types.get(name) for name in TYPES} == TYPES
            assert not [s.name for s in samples if s.name.endswith("_created")]
            build = [s for s in samples if s.name == "callscribe_build_info"]
            assert [s.labels for s in build] == [{"version": __version__, "model": "base"}]
            counted = {
                "callscribe_calls_received_total": {"source": "pbx"},
                "callscribe_deliveries_total": {"sink": "helpdesk", "outcome": "delivered"},
                "callscribe_recording_download_seconds_count": {"source": "pbx"},
                "callscribe_transcription_realtime_factor_count": {},
                "callscribe_delivery_latency_seconds_count": {"sink": "helpdesk"},
            }
            before = {name: value(samples, name, **labels) for name, labels in counted.items()}
            assert before == dict.fromkeys(counted, 1.0)
            assert value(samples, "callscribe_audio_seconds_total") == pytest.approx(6.0, 0.05)

            path.write_text(config(state, port, files, sink, ["pbx", "other"]), "utf-8")
            reloads = daemon.log.read_text().count("configuration reloaded")
            assert daemon.process is not None
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda: daemon.log.read_text().count("configuration reloaded") > reloads,
                60,
                "the reload",
            )
            wait_for(lambda: _answers(f"{daemon.url}/readyz"), 60, "ready after the reload")
            _, samples = scrape(daemon)
            after = {name: value(samples, name, **labels) for name, labels in counted.items()}
            assert after == before  # not reset by the reload

            post_call(daemon, files, "m-2")
            wait_for(lambda: sink.tickets_for("m-2") == 1, 120, "the second call's ticket")
            _, samples = scrape(daemon)
            assert value(samples, "callscribe_calls_received_total", source="pbx") == 2.0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False  # the HTTP server restarts during a reload
