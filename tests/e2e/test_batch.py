"""The batch commands on the store a live daemon uses, at the same time, with real
recordings and the real model (issue 20): an archive imported twice is each call once,
transcribed by the command (never by the daemon) and delivered by the daemon; calls
transcribed again keep their old transcript as a version and reach the helpdesk again as
revisions; a number is erased without a byte of it left in the state folder; and a
retranscription killed halfway goes on where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from callscribe.domain import CallEvent, Direction, Recording, RecordingRef
from callscribe.store.base import JobKind
from callscribe.store.sqlite import SqliteStore
from callscribe.testing import Daemon, FileServer, SinkServer, free_port, running, wait_for
from callscribe.transcription.render import from_json_dict
from tests.groundtruth import assert_heard_as_said, excerpt
from tests.integration.test_retention import take, transcript
from tests.samples import EXAMPLES, SAMPLES, manifest

pytestmark = pytest.mark.slow

TOKEN = "batch-token-0123456789abcdef"
SECONDS = 12
CALLS = {call["name"]: call for call in manifest()["calls"]}
IN_CALL = "in-74950000000-79001234567-20261120-100000-1763622000.1"
# The number erased at the end, as the archive wrote it, and the pieces searched for.
NUMBER = "+7 900 123-45-67"
NEEDLES = (b"9001234567", b"900 123", b"(900)")


def _excerpt(source: Path, target: Path, start: float = 0.0) -> None:
    audio, rate = sf.read(source, dtype="int16")
    target.parent.mkdir(parents=True, exist_ok=True)
    first = int(start * rate)
    sf.write(target, audio[first : first + SECONDS * rate], rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FreePBX monitor tree, an Asterisk call left as two leg files, and recordings
    named in no known way described by a metadata file."""
    root = tmp_path_factory.mktemp("archive")
    day = root / "monitor" / "2026" / "11" / "20"
    _excerpt(SAMPLES / "call-public-00.wav", day / f"{IN_CALL}.wav")
    _excerpt(
        SAMPLES / "call-public-02.wav",
        day / "out-89161112233-101-20261120-110000-1763625600.2.wav",
    )
    # A missed call: FreePBX leaves a WAV header and nothing else.
    header = root / "monitor" / "2026" / "11" / "21" / "q-600-89001234567-20261121-090000-x.wav"
    header.parent.mkdir(parents=True)
    header.write_bytes(
        b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000,
        16000, 2, 16) + b"data" + struct.pack("<I", 0)
    )  # fmt: skip
    stereo, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    part = stereo[SECONDS * rate : 2 * SECONDS * rate]
    spool = root / "spool"
    spool.mkdir()
    sf.write(spool / "1763708400.4-tx.wav", part[:, 0], rate, subtype="PCM_16")  # operator
    sf.write(spool / "1763708400.4-rx.wav", part[:, 1], rate, subtype="PCM_16")  # client
    _excerpt(EXAMPLES / "call-public-01.wav", root / "other" / "rec-001.wav")
    (root / "other" / "meta.csv").write_text(
        "file,id,direction,client_number,operator_id,fields.deal\n"
        "rec-001.wav,crm-1,inbound,+79005556677,102,D-7\n",
        "utf-8",
    )
    return root


class World:
    def __init__(self, tmp: Path, recordings: Path, model_dir: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.model_dir = model_dir
        self.files = FileServer(recordings)
        self.helpdesk = SinkServer()
        port = free_port()
        self.config = tmp / "callscribe.toml"
        self.config.write_text(
            f"""
[daemon]
state_dir = "{self.state}"
listen = "127.0.0.1:{port}"
lease_seconds = 5
heartbeat_seconds = 1
sweep_seconds = 1

[retry]
delivery = [1, 1, 1]
jitter = 0.0

[sources.pbx]
type = "generic"
token = "{TOKEN}"
allow_http = true
loopback_ports = [{self.files.port}]

[sinks.helpdesk]
type = "webhook"
url = "{self.helpdesk.url}/calls"

[sinks.archive]
type = "jsonl"
path = "{self.state}/archive.jsonl"

[[routes]]
sinks = ["helpdesk", "archive"]
calls = "all"
""",
            encoding="utf-8",
        )
        self.daemon = Daemon(self.config, port, model_dir, tmp / "daemon.log")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "callscribe", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env={**os.environ, "CALLSCRIBE_MODEL_DIR": str(self.model_dir)},
            timeout=600,
            check=False,
        )
        shown = (
            f"callscribe {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        if check:
            assert result.returncode == 0, shown
        for trouble in ("Traceback", "database is locked"):
            assert trouble not in result.stderr, shown
        return result

    def post(self, external_id: str) -> None:
        import httpx  # noqa: PLC0415 - only the daemon tests post

        body = {
            "id": external_id,
            "direction": "inbound",
            "started_at": "2026-11-21T10:00:00+03:00",
            "client_number": "+79991234567",
            "operator": {"id": "007"},
            "recording_url": f"{self.files.url}/live.wav",
        }
        answer = httpx.post(
            f"{self.daemon.url}/hooks/pbx",
            json=body,
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert answer.status_code == 200

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.state / "callscribe.db", timeout=10) as db:
            return db.execute(sql, args).fetchall()

    def tickets(self, external_id: str) -> list[dict[str, Any]]:
        with self.helpdesk.lock:
            return [
                t for t in self.helpdesk.tickets.values() if t["call"]["external_id"] == external_id
            ]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, archive: Path, model_dir: Path
) -> Iterator[World]:
    recordings = tmp_path_factory.mktemp("pbx-web")
    _excerpt(SAMPLES / "call-public-02.wav", recordings / "live.wav")
    world = World(tmp_path_factory.mktemp("batch"), recordings, model_dir)
    with world.files, world.helpdesk, running(world.daemon):
        yield world
    log = (world.tmp / "daemon.log").read_text("utf-8", "replace")
    assert "database is locked" not in log
    assert "Traceback" not in log


IMPORT = ("--recursive", "--timezone", "Europe/Moscow")


def test_an_archive_imported_twice_beside_the_daemon_is_each_call_once(
    world: World, archive: Path
) -> None:
    results: list[subprocess.CompletedProcess[str]] = []
    paths = [str(archive / name) for name in ("monitor", "spool", "other")]
    metadata = ("--metadata", str(archive / "other" / "meta.csv"))
    importing = threading.Thread(
        target=lambda: results.append(world.cli("import", *paths, *metadata, *IMPORT))
    )
    importing.start()
    world.post("live-1")  # a live call while the archive comes in
    importing.join()
    (first,) = results
    assert "5 recording(s) found" in first.stdout, first.stdout
    assert "new calls: 5 (4 transcribed, 1 without audio: missed calls)" in first.stdout

    again = world.cli("import", str(archive), *metadata, *IMPORT)
    assert "new calls: 0" in again.stdout
    assert "already imported: 5" in again.stdout
    assert world.query("SELECT count(*) FROM calls WHERE source = 'import'") == [(5,)]
    # The command transcribed them; the daemon never did.
    transcribed_by_daemon = world.query(
        "SELECT count(*) FROM jobs j JOIN calls c ON c.id = j.call_id"
        " WHERE c.source = 'import' AND j.kind = ?",
        JobKind.TRANSCRIBE.value,
    )
    assert transcribed_by_daemon == [(0,)]

    ids = [row[0] for row in world.query("SELECT external_id FROM calls ORDER BY id")]
    for external_id in ids:
        wait_for(lambda e=external_id: len(world.tickets(e)) == 1, 180, f"{external_id} delivered")
    named = world.query("SELECT external_id FROM calls WHERE event LIKE ?", f"%{IN_CALL}%")
    (ticket,) = world.tickets(named[0][0])
    assert ticket["call"]["client_number"] == "79001234567"  # from the FreePBX name
    assert ticket["call"]["direction"] == "inbound"
    assert ticket["call"]["started_at"] == "2026-11-20T10:00:00+03:00"
    segments = from_json_dict(ticket["transcript"]).segments
    truth = excerpt(CALLS["call-public-00"], SECONDS)
    assert_heard_as_said(truth, segments=segments, dialogue=ticket["dialogue"])
    (crm,) = world.tickets("crm-1")
    assert (crm["call"]["client_number"], crm["call"]["operator_id"]) == ("+79005556677", "102")
    legs = world.query("SELECT external_id FROM calls WHERE event LIKE '%1763708400.4-rx%'")
    (leg_ticket,) = world.tickets(legs[0][0])
    assert {s["speaker"] for s in leg_ticket["transcript"]["segments"]} == {"operator", "client"}
    (missed,) = [e for e in ids if world.tickets(e)[0]["transcript"] is None and e != "live-1"]
    assert world.tickets(missed)[0]["call"]["client_number"] == "89001234567"


def test_calls_transcribed_again_keep_versions_and_reach_the_helpdesk_as_revisions(
    world: World,
) -> None:
    # Recordings retention deleted, or lost: fetched again from where they came from.
    for (path,) in world.query("SELECT path FROM recordings"):
        Path(path).unlink(missing_ok=True)
    dry = world.cli("retranscribe", "--set", "beam_size=1", "--redeliver", "--dry-run")
    assert "would transcribe again: 5 call(s)" in dry.stdout
    assert "(5 fetched again from their source)" in dry.stdout

    result = world.cli("retranscribe", "--set", "beam_size=1", "--redeliver")

    assert "done:    5 now" in result.stdout, result.stdout
    assert "the call has no recording" in result.stdout  # the missed call, skipped
    versions = world.query(
        "SELECT c.external_id, t.version, json_extract(t.settings, '$.beam_size'),"
        " (SELECT count(*) FROM transcript_versions v WHERE v.call_id = c.id)"
        " FROM calls c JOIN transcripts t ON t.call_id = c.id"
    )
    assert len(versions) == 5
    assert {(v[1], v[2], v[3]) for v in versions} == {(2, 1, 1)}
    for external_id, *_ in versions:
        wait_for(lambda e=external_id: len(world.tickets(e)) == 2, 180, f"{external_id} again")
        first, second = sorted(world.tickets(external_id), key=lambda t: t["transcript_version"])
        assert (first["revision"], second["revision"]) == (False, True)
        assert second["transcript_version"] == 2
        assert second["idempotency_key"] != first["idempotency_key"]
    lines = [json.loads(line) for line in (world.state / "archive.jsonl").read_text().splitlines()]
    assert sum(1 for line in lines if line["transcript_version"] == 2) == 5

    call_id = world.query("SELECT id FROM calls WHERE external_id = 'crm-1'")[0][0]
    shown = world.cli("calls", "show", str(call_id)).stdout
    assert "Transcript versions:" in shown
    assert "beam_size=1" in shown
    old = json.loads(world.cli("calls", "export", str(call_id), "--version", "1", "--format",
                               "json").stdout)  # fmt: skip
    assert old["segments"]
    assert old["source"] == f"callscribe call {call_id}, version 1"


def test_a_number_is_erased_beside_the_daemon_without_a_trace(world: World) -> None:
    pending = "SELECT count(*) FROM deliveries WHERE state = 'pending'"
    wait_for(lambda: world.query(pending) == [(0,)], 120, "every delivery settled")
    assert any(_holding(world.state))
    result = world.cli("purge", "--phone", NUMBER, "--yes", "--reason", "request 17")

    assert "The number is in 2 call(s)" in result.stdout, result.stdout
    assert _holding(world.state) == []
    audit = world.query("SELECT category, object_ids, reason FROM audit WHERE reason = ?",
                        "request 17")  # fmt: skip
    assert {row[0] for row in audit} >= {"call", "transcript", "transcript_version", "delivery"}
    assert all("9001234567" not in row[1] for row in audit)
    # The daemon goes on as before.
    world.post("after-erasure")
    wait_for(lambda: len(world.tickets("after-erasure")) == 1, 180, "a call after the erasure")


def _holding(folder: Path) -> list[str]:
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and any(n in path.read_bytes() for n in NEEDLES)
    ]


# --- a retranscription killed halfway -----------------------------------------------------

RUN_CALLS = 26  # a group of 16 and another of 10: time to kill it between them


def test_a_retranscription_killed_halfway_goes_on_where_it_stopped(
    tmp_path: Path, model_dir: Path
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "callscribe.toml"
    config.write_text(f'[daemon]\nstate_dir = "{state}"\n', "utf-8")
    store = SqliteStore(state / "callscribe.db")
    samples = [SAMPLES / "call-public-00.wav", SAMPLES / "call-public-02.wav"]
    for n in range(RUN_CALLS):
        _stored_call(store, state, n, samples[n % 2], start=(n // 2) % 2 * SECONDS)
    store.close()
    command = [sys.executable, "-m", "callscribe", "retranscribe", "--set", "beam_size=1",
               "--config", str(config)]  # fmt: skip
    env = {**os.environ, "CALLSCRIBE_MODEL_DIR": str(model_dir)}

    def done() -> int:
        with sqlite3.connect(state / "callscribe.db", timeout=10) as db:
            return int(db.execute("SELECT count(*) FROM retranscribe_items WHERE state = 'done'")
                       .fetchone()[0])  # fmt: skip

    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: done() > 0 or first.poll() is not None, 300, "the first calls done")
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    before = done()
    assert 0 < before < RUN_CALLS, f"killed after {before} of {RUN_CALLS}: not halfway"

    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"done:    {RUN_CALLS - before} now, {before} by an earlier run" in result.stdout
    with sqlite3.connect(state / "callscribe.db") as db:
        versions = db.execute(
            "SELECT (SELECT count(*) FROM transcript_versions v WHERE v.call_id = t.call_id),"
            " t.version FROM transcripts t"
        ).fetchall()
    assert versions == [(1, 2)] * RUN_CALLS  # each call transcribed again exactly once
    assert not list(state.glob(".retranscribe-*"))  # the killed command's folder is gone


def _stored_call(store: SqliteStore, state: Path, n: int, sample: Path, start: float) -> None:
    """A call as the service leaves it: fetched, transcribed (a stand-in text), delivered."""
    event = CallEvent(
        source="pbx",
        external_id=f"run-{n}",
        direction=Direction.INBOUND,
        started_at=datetime(2026, 11, 20, 9, n, tzinfo=UTC),
        recordings=(RecordingRef(f"https://pbx.example/{n}.wav"),),
    )
    call_id = store.ingest(event).call_id or 0
    path = state / "recordings" / str(call_id) / "recording-0123456789abcdef.wav"
    _excerpt(sample, path, start)
    job = take(store, JobKind.FETCH, call_id)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store.complete_fetch(
        job, Recording(call_id, str(path), path.stat().st_size, digest, job.run_at)
    )
    store.complete_transcribe(take(store, JobKind.TRANSCRIBE, call_id), transcript("старое"), [])
