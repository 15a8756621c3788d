"""Several daemons on one PostgreSQL (issue 21, R-Q-6): every job done once, a node
killed with kill -9 mid-job, and a running source moving to another node.

The daemons are real ``callscribe run`` processes with roles that need no model
(``deliver``, ``sources``), so thousands of jobs take seconds: each job is a missed
call's delivery to a stand-in helpdesk, through the real claim path (FOR UPDATE SKIP
LOCKED), leases, heartbeats and sweeper.  The helpdesk keeps every POST, so a job run
twice shows up as a second POST with the same idempotency key.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from callscribe.domain import CallEvent, CallState
from callscribe.store.base import JobKind, JobState, Store
from callscribe.store.blocking import BlockingStore
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.testing import Daemon, SinkServer, free_port, wait_for, write_config
from callscribe.testing_postgres import PostgresCluster

JOBS = 2000


class Cluster:
    """N daemons on one fresh database, and a store to look at it."""

    def __init__(self, tmp: Path, postgres: PostgresCluster, model_dir: Path) -> None:
        self.tmp = tmp
        self.model_dir = model_dir
        self.url = postgres.database("multinode")
        self.password_file = tmp / "pg-password"
        self.password_file.write_text(postgres.password)
        self.store: Store = BlockingStore(
            lambda: PostgresStore.open(PgTarget(self.url, postgres.password), pool_size=4)
        )
        self.daemons: list[Daemon] = []

    def daemon(self, roles: list[str], extra: str = "") -> Daemon:
        n = len(self.daemons)
        port = free_port()
        state = self.tmp / f"node-{n}"
        text = f"""
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1
delivery_workers = 4
stop_timeout_seconds = 10

[retry]
delivery = [1, 1, 1]
jitter = 0.0

[store]
url = "{self.url}"
password = "file:{self.password_file}"

[node]
roles = {roles!r}
{extra}
""".replace("'", '"')
        state.mkdir(parents=True)
        config = write_config(state / "callscribe.toml", text)
        node = Daemon(config, port, self.model_dir, state / "daemon.log")
        self.daemons.append(node)
        return node

    def missed_calls(self, count: int, sink: str) -> None:
        for n in range(count):
            self.store.ingest(CallEvent("pbx", f"call-{n}"), [sink])

    def close(self) -> None:
        for node in self.daemons:
            if node.process is not None and node.process.poll() is None:
                node.stop(30)
        self.store.close()


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresCluster, model_dir: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path, postgres, model_dir)
    yield made
    made.close()


def sink_config(sink: SinkServer) -> str:
    return f"""
[sinks.helpdesk]
type = "webhook"
url = "{sink.url}/calls"
"""


def done(store: Store) -> int:
    return store.job_counts()[JobKind.DELIVER, JobState.DONE]


def node_of(worker: str | None) -> str:
    """Worker names are KIND-PID-RANDOM: the node is the process."""
    assert worker is not None
    return worker.split("-")[1]


@pytest.mark.parametrize("nodes", [2, 3])
def test_every_job_is_done_exactly_once(cluster: Cluster, nodes: int) -> None:
    with SinkServer() as sink, ExitStack() as running:
        for _ in range(nodes):
            node = cluster.daemon(["deliver"], sink_config(sink))
            node.start()
            running.callback(node.stop, 30)
        started = time.monotonic()
        cluster.missed_calls(JOBS, "helpdesk")
        wait_for(lambda: done(cluster.store) == JOBS, 180, f"{JOBS} deliveries")
        elapsed = time.monotonic() - started
    jobs = cluster.store.jobs(kind=JobKind.DELIVER)
    assert len(jobs) == JOBS
    assert {(j.state, j.attempts, j.stalls) for j in jobs} == {(JobState.DONE, 1, 0)}
    keys = Counter(post["call"]["external_id"] for post in sink.posts)
    assert len(keys) == JOBS
    assert max(keys.values()) == 1  # 0 double claims: no job was run twice
    by_node = Counter(node_of(j.worker) for j in jobs)
    assert len(by_node) == nodes, by_node  # every node took a share
    assert all(c.state is CallState.DONE for c in cluster.store.calls(limit=JOBS))
    print(f"\n{nodes} nodes: {JOBS} deliveries in {elapsed:.1f} s, by node {dict(by_node)}")


def test_a_node_killed_mid_job_has_its_jobs_finished_by_the_others(cluster: Cluster) -> None:
    with SinkServer(delay=0.02) as sink, ExitStack() as running:
        nodes = [cluster.daemon(["deliver"], sink_config(sink)) for _ in range(3)]
        for node in nodes:
            node.start()
        for node in nodes[1:]:
            running.callback(node.stop, 30)
        victim = nodes[0]
        assert victim.process is not None
        pid = str(victim.process.pid)
        cluster.missed_calls(JOBS, "helpdesk")

        def victim_busy() -> bool:
            running_jobs = cluster.store.jobs(state=JobState.RUNNING, kind=JobKind.DELIVER)
            return done(cluster.store) > 200 and any(node_of(j.worker) == pid for j in running_jobs)

        wait_for(victim_busy, 60, "the first node in the middle of its deliveries")
        held = {
            j.id
            for j in cluster.store.jobs(state=JobState.RUNNING, kind=JobKind.DELIVER)
            if node_of(j.worker) == pid
        }
        victim.kill()
        killed_at = time.monotonic()
        wait_for(lambda: done(cluster.store) == JOBS, 180, f"{JOBS} deliveries after the kill")
        recovered = time.monotonic() - killed_at
    jobs = {j.id: j for j in cluster.store.jobs(kind=JobKind.DELIVER)}
    assert {j.state for j in jobs.values()} == {JobState.DONE}
    stalled = {i for i, j in jobs.items() if j.stalls}
    assert held
    assert stalled <= held  # only the dead node's jobs stalled...
    for job_id in stalled:  # ...and the others finished them
        assert node_of(jobs[job_id].worker) != pid
        assert jobs[job_id].stalls == 1
    keys = Counter(post["call"]["external_id"] for post in sink.posts)
    assert len(keys) == JOBS  # every call reached the helpdesk (at least once)
    assert sum(keys.values()) - JOBS <= len(held)  # repeats only of what the node held
    print(f"\nkilled holding {len(held)} jobs; all {JOBS} done {recovered:.1f} s later")


def test_a_single_run_source_moves_when_its_node_dies(cluster: Cluster, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    source = f"""
[sources.spool]
type = "directory"
path = "{folder}"
settle_seconds = 0.2
poll_seconds = 0.2
"""
    nodes = [cluster.daemon(["sources"], source) for _ in range(2)]
    for node in nodes:
        node.start()

    def holder() -> Daemon | None:
        holding = [n for n in nodes if "source spool runs on this node now" in n.log.read_text()]
        assert len(holding) <= 1, "the source ran on two nodes at once"
        return holding[0] if holding else None

    wait_for(lambda: holder() is not None, 30, "one node to run the directory source")
    first = holder()
    assert first is not None
    (folder / "one.wav").write_bytes(b"RIFF" + bytes(2000))
    wait_for(lambda: len(cluster.store.calls()) == 1, 30, "the first file ingested")
    first.kill()
    killed_at = time.monotonic()
    survivor = next(n for n in nodes if n is not first)
    wait_for(
        lambda: "source spool runs on this node now" in survivor.log.read_text(),
        30,
        "the other node to take the source over",
    )
    took_over = time.monotonic() - killed_at
    (folder / "two.wav").write_bytes(b"RIFF" + bytes(3000))
    wait_for(lambda: len(cluster.store.calls()) == 2, 30, "the second file ingested")
    assert took_over < 5.0  # POLL_SECONDS (2 s) after the dead node's session closed
    assert survivor.log.read_text().count("source spool runs on this node now") == 1
    print(f"\nthe directory source moved {took_over:.1f} s after kill -9")


TOKEN = "multinode-token-0123456789abcdef"


def test_while_the_database_is_away_webhooks_get_503_and_readyz_says_so(
    tmp_path: Path, model_dir: Path
) -> None:
    server = PostgresCluster.start()  # its own: this test stops it
    cluster = Cluster(tmp_path, server, model_dir)
    try:
        node = cluster.daemon(
            ["intake"],
            f'[sources.pbx]\ntype = "generic"\ntoken = "{TOKEN}"\n',
        )
        node.start()

        def post(external_id: str) -> httpx.Response:
            return httpx.post(
                f"{node.url}/hooks/pbx",
                json={"id": external_id},
                headers={"authorization": f"Bearer {TOKEN}"},
                timeout=30,
            )

        assert post("before").status_code == 200
        server.stop_server()
        refused = post("during")
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        ready = httpx.get(f"{node.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["store"] is False
        server.start_server()
        wait_for(
            lambda: httpx.get(f"{node.url}/readyz", timeout=5).status_code == 200,
            30,
            "ready again",
        )
        assert post("during").status_code == 200  # the sender's retry
        assert {c.event.external_id for c in cluster.store.calls()} == {"before", "during"}
        log = node.log.read_text()
        assert "PostgreSQL at 127.0.0.1" in log  # the outage was logged...
        assert server.password not in log  # ...without the password (R-SEC-2)
    finally:
        cluster.close()
        server.stop()
