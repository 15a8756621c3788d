"""What the end-to-end tests of the helpdesk sinks share: a daemon's settings for being
killed and restarted, whether a call's deliveries are done, and a kill -9 of the daemon
while the platforms hold their answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from callscribe.testing import Daemon
from tests.standins.helpdesk import HelpdeskStandIn


def daemon_tables(state: Path, port: int, *daemon_lines: str) -> str:
    """``[daemon]`` (with ``daemon_lines`` added) and ``[retry]`` for a daemon that is
    killed and restarted: the dead one's leases are taken back and deliveries tried again
    within seconds."""
    lines = "\n".join(daemon_lines)
    return f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
{lines}
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1
stop_timeout_seconds = 20

[retry]
delivery = [1, 1, 1, 1, 1]
jitter = 0.0
"""


def query(state: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(state / "callscribe.db", timeout=10) as db:
        return db.execute(sql, args).fetchall()


def delivered(state: Path, external_id: str, sinks: Collection[str]) -> bool:
    """Whether the call has a delivery to each of ``sinks``, and only those, all done."""
    rows = query(
        state,
        "SELECT d.sink, d.state FROM deliveries d JOIN calls c ON c.id = d.call_id "
        "WHERE c.external_id = ?",
        external_id,
    )
    return dict(rows) == dict.fromkeys(sinks, "delivered")


def kill_while_held(daemon: Daemon, platforms: Sequence[HelpdeskStandIn]) -> None:
    """Once every platform has done the work and holds its answer (``hold_after``), kill
    the daemon: the platforms succeeded, callscribe never heard."""
    for platform in platforms:
        assert platform.held.wait(180), f"no delivery reached {platform} (log: {daemon.log})"
    daemon.kill()


def release_and_restart(daemon: Daemon, platforms: Sequence[HelpdeskStandIn]) -> None:
    for platform in platforms:
        platform.release()  # the answers go to a process that is gone
    daemon.start()
