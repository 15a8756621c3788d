"""The seam that shows a running source's link in /metrics (and /readyz, via Runtime)."""

from __future__ import annotations

from callscribe.connectors.base import SourceStatus
from callscribe.daemon.metrics import Metrics


def test_metrics_show_each_linked_source_and_only_its_current_state() -> None:
    metrics = Metrics()
    statuses = {"pbx": SourceStatus(ready=True, state="connected", connects=1)}
    metrics.watch_sources(lambda: statuses)
    text = metrics.render().decode()
    assert 'callscribe_source_up{source="pbx"} 1.0' in text
    assert 'callscribe_source_connects{source="pbx"} 1.0' in text
    assert 'callscribe_source_state{source="pbx",state="connected"} 1.0' in text
    statuses["pbx"] = SourceStatus(ready=False, state="login refused", connects=1)
    text = metrics.render().decode()
    assert 'callscribe_source_up{source="pbx"} 0.0' in text
    assert 'callscribe_source_state{source="pbx",state="connected"} 0.0' in text
    assert 'callscribe_source_state{source="pbx",state="login refused"} 1.0' in text


def test_without_linked_sources_nothing_is_shown() -> None:
    assert "source_up{" not in Metrics().render().decode()
