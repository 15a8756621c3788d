"""kill -9 at random moments: no acknowledged call is lost, none is delivered twice.

Each of 20 runs starts the daemon, posts calls continuously from another thread and
SIGKILLs the daemon at a random moment — inside a webhook, a download, a decode, a
recognition or a delivery.  A last run lets everything finish.  Then every call whose
webhook got a 2xx has exactly one ticket at the helpdesk (which honours idempotency keys)
and exactly one line in the archive file, and a graceful stop leaves no job running.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from callscribe.testing import Daemon, FileServer, SinkServer, free_port, wait_for
from tests.e2e.test_daemon import TOKEN, config, recordings  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

RUNS = 20


class Poster(threading.Thread):
    """Posts a new call every few hundred milliseconds until stopped; remembers acks."""

    def __init__(self, url: str, recording_url: str, run: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.recording_url = recording_url
        self.run_number = run
        self.acked: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.halt.is_set():
            call_id = f"crash-{self.run_number}-{number}"
            number += 1
            try:
                answer = httpx.post(
                    self.url,
                    json={"id": call_id, "recording_url": self.recording_url},
                    headers={"authorization": f"Bearer {TOKEN}"},
                    timeout=5,
                )
            except httpx.HTTPError:
                continue  # the daemon was killed mid-request: not acknowledged
            if answer.status_code == 200:
                self.acked.append(call_id)
            self.halt.wait(0.3)


def test_kill_9_loses_nothing_and_delivers_once(
    tmp_path: Path,
    recordings: Path,  # noqa: F811
    model_dir: Path,
) -> None:
    files = FileServer(recordings)
    sink = SinkServer()
    port = free_port()
    state = tmp_path / "state"
    (tmp_path / "c.toml").write_text(config(state, port, files, {"pbx": sink}), "utf-8")
    daemon = Daemon(tmp_path / "c.toml", port, model_dir, tmp_path / "daemon.log")
    rng = random.Random(20261122)
    acked: list[str] = []
    with files, sink:
        for run in range(RUNS):
            daemon.start()
            poster = Poster(f"{daemon.url}/hooks/pbx", f"{files.url}/short.wav", run)
            poster.start()
            time.sleep(rng.uniform(0.2, 4.0))
            daemon.kill()
            poster.halt.set()
            poster.join()
            acked += poster.acked
        assert len(acked) >= RUNS, "too few calls were acknowledged to test anything"

        daemon.start()
        wait_for(
            lambda: all(sink.tickets_for(call_id) == 1 for call_id in acked),
            600,
            f"tickets for all {len(acked)} acknowledged calls (log: {daemon.log})",
        )
        database = state / "callscribe.db"
        wait_for(lambda: _unfinished(database) == 0, 120, "every call to finish")
        assert daemon.stop() == 0

    stored = _calls(database)
    assert set(acked) <= stored  # nothing acknowledged was lost
    tickets = [t["call"]["external_id"] for t in sink.tickets.values()]
    assert sorted(tickets) == sorted(stored)  # one ticket per call, no duplicates
    archived = [
        json.loads(line)["call"]["external_id"]
        for line in (state / "archive.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    assert sorted(archived) == sorted(stored)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE state = 'running'").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM calls WHERE state != 'done'").fetchone() == (0,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _calls(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT external_id FROM calls")}


def _unfinished(database: Path) -> int:
    with sqlite3.connect(database, timeout=10) as db:
        (count,) = db.execute("SELECT count(*) FROM calls WHERE state != 'done'").fetchone()
        return int(count)
