"""The asterisk source's settings and the link's arithmetic: what a PBX admin can get
wrong, and how long the link waits between tries."""

from __future__ import annotations

import random
from typing import Any

import pytest

from callscribe.config.loader import load_settings
from callscribe.connectors.sources.asterisk.link import Backoff, is_loopback
from callscribe.errors import ConfigError


def load(tmp_path: Any, source: str) -> Any:
    path = tmp_path / "callscribe.toml"
    path.write_text(
        f"""
[sources.pbx]
type = "asterisk"
username = "callscribe"
secret = "s3cret"
{source}
""",
        "utf-8",
    )
    return load_settings(path)


def test_a_minimal_source_takes_freepbx_defaults(tmp_path: Any) -> None:
    config = load(tmp_path, 'recordings = ["/var/spool/asterisk/monitor"]').sources["pbx"]
    assert (config.host, config.port, config.auth, config.tls) == ("127.0.0.1", 5038, "md5", False)
    assert "from-trunk" in config.inbound_contexts
    assert config.secret.reveal() == "s3cret"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("recordings = []", "recordings"),
        (
            'recordings = ["/m"]\npath_map = { "/var/spool/../etc" = "/m" }',
            "must be an absolute path without '..'",
        ),
        ('recordings = ["/m"]\ncdr_timezone = "Mars/Olympus"', "unknown time zone"),
        ('recordings = ["/m"]\ncdr_columns = ["src", "dst"]', "needs the columns"),
        ('recordings = ["/m"]\nreconnect_min_seconds = 10\nreconnect_max_seconds = 1', "reconnect"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Any, source: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        load(tmp_path, source)
    assert "Value error," not in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_backoff_doubles_with_jitter_up_to_the_ceiling() -> None:
    backoff = Backoff(1.0, 60.0, 60.0, random.Random(1))
    delays = [backoff.after_failure(refused=False) for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.after_failure(refused=False) <= 1.0


def test_repeated_refused_logins_slow_to_one_try_a_minute() -> None:
    backoff = Backoff(1.0, 60.0, 60.0, random.Random(2))
    delays = [backoff.after_failure(refused=True) for _ in range(6)]
    assert all(delay < 60 for delay in delays[:2])
    assert all(60 <= delay <= 66 for delay in delays[2:])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.5", False),
        ("pbx.lan", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
