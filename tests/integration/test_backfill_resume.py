"""``callscribe backfill`` for Mango Office and Calltouch as an admin runs it: a run killed
with kill -9 while it waits on the vendor's second day, then the same command again —
each past call stored once, the finished day not read again.  (UIS: test_uis_backfill.py.)
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callscribe.testing import wait_for
from tests.standins.calltouch import Api, record
from tests.standins.mango import MangoStandIn, StatsCall

MANGO_KEY = "vpbx-code-0123456789"
MANGO_SALT = "salt-9b1f6c0e2a"
CT_KEY = "ct-key-0123456789abcdef0123456789"
SITE = "54321"
TEN_AM = 1_763_708_400  # 2025-11-21 10:00 Moscow


@dataclass
class Vendor:
    name: str
    source: str  # the [sources.NAME] block
    since: str
    until: str
    expected: list[str]  # external ids, sorted
    stall: Callable[[], None]  # make the vendor keep the next day waiting
    release: Callable[[], None]


def mango_row(entry_id: str, start: int) -> dict[str, str]:
    return {
        "entry_id": entry_id, "start": str(start), "finish": str(start + 60),
        "answer": str(start + 5), "from_extension": "", "from_number": "79161234567",
        "to_extension": "101", "to_number": "74951234567", "disconnect_reason": "1110",
        "line_number": "74951234567", "location": "abonent", "create": str(start),
    }  # fmt: skip


@pytest.fixture
def mango() -> Iterator[Vendor]:
    with MangoStandIn(MANGO_KEY, MANGO_SALT, stats_interval=0.0) as standin:
        standin.calls = [
            StatsCall(mango_row("E-1", TEN_AM), ["REC-1"]),
            StatsCall(mango_row("E-2", TEN_AM + 600)),
            StatsCall(mango_row("E-3", TEN_AM + 86_400), ["REC-3"]),  # the next day
        ]

        def stall() -> None:
            standin.stats_interval = 1e9  # every new statistics request: 429

        def release() -> None:
            standin.stats_interval = 0.0

        yield Vendor(
            "mango",
            f"""type = "mango"
api_key = "{MANGO_KEY}"
api_salt = "{MANGO_SALT}"
api_url = "{standin.api_url}"
allow_http = true
loopback_ports = [{standin.port}]
stats_poll_seconds = 0.05""",
            "2025-11-21",
            "2025-11-22",
            ["E-1", "E-2", "E-3"],
            stall,
            release,
        )


@pytest.fixture
def calltouch() -> Iterator[Vendor]:
    records = [
        record(7001, "20/11/2026 09:00:00"),
        record(7002, "20/11/2026 09:30:00", successful=False),
        record(7003, "21/11/2026 08:00:00"),
    ]
    with Api(SITE, CT_KEY, records, {}) as api:

        def stall() -> None:
            api.throttle_first = 10**9  # 429 to everything from now on

        def release() -> None:
            api.throttle_first = 0

        yield Vendor(
            "calltouch",
            f"""type = "calltouch"
token = "{"t" * 32}"
site_id = "{SITE}"
client_api_id = "{CT_KEY}"
api_url = "{api.url}"
api_interval_seconds = 2
api_wait_seconds = 0.2
api_attempts = 20""",
            "2026-11-20",
            "2026-11-21",
            ["7001", "7002", "7003"],
            stall,
            release,
        )


def stored(state: Path, table: str = "calls", column: str = "external_id") -> list[str]:
    database = state / "callscribe.db"
    if not database.exists():
        return []
    with sqlite3.connect(database, timeout=10) as db:
        try:
            rows = db.execute(f"SELECT {column} FROM {table} ORDER BY 1").fetchall()  # noqa: S608
        except sqlite3.OperationalError:  # the backfill's first transaction is not in yet
            return []
    return [str(row[0]) for row in rows]


@pytest.mark.parametrize("vendor_name", ["mango", "calltouch"])
def test_a_backfill_killed_between_days_resumes_with_each_call_once(
    vendor_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    vendor: Vendor = request.getfixturevalue(vendor_name)
    state = tmp_path / "state"
    config = tmp_path / "callscribe.toml"
    config.write_text(
        f'[daemon]\nstate_dir = "{state}"\n\n[sources.{vendor.name}]\n{vendor.source}\n',
        encoding="utf-8",
    )
    command = [
        sys.executable, "-m", "callscribe", "backfill", "--config", str(config),
        "--source", vendor.name, "--since", vendor.since, "--until", vendor.until,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The first day finished: the vendor now keeps the second waiting, and we pull the plug.
        wait_for(
            lambda: process.poll() is not None or stored(state, "backfill_days", "day") != [],
            60,
            "the first day",
        )
        assert process.poll() is None, process.communicate()
        vendor.stall()
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL
    first_day = stored(state, "backfill_days", "day")
    assert first_day == [vendor.since]
    before = stored(state)

    vendor.release()
    again = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env={**os.environ}
    )
    assert again.returncode == 0, again.stderr
    assert "1 finished by an earlier backfill (skipped)" in again.stdout
    assert stored(state) == vendor.expected  # each call once
    assert set(before) < set(vendor.expected)
    assert stored(state, "backfill_days", "day") == [vendor.since, vendor.until]
