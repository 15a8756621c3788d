"""The batch commands with ``[store]`` pointing at PostgreSQL: ``calls list`` finds calls by
number and words, ``retranscribe --dry-run`` plans, ``purge --phone`` erases the number
from every table and the state folder, and (slow: one model run) ``retranscribe``
transcribes a call again, keeping the old transcript as a version."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

from callscribe.cli import main
from callscribe.domain import CallState
from callscribe.store.base import Store
from callscribe.store.pg_pool import PgTarget
from callscribe.testing_postgres import PostgresCluster
from tests.integration.both_stores import Database
from tests.integration.test_retention import add_call
from tests.samples import SAMPLES

NUMBER = "8 (900) 123-45-67"  # the client of every test call but "other"
OTHER = "+79115550011"


@dataclass
class World:
    state: Path
    config: Path
    database: Database
    store: Store
    ids: dict[str, int]

    def cli(self, *argv: str) -> int:
        return main([*argv, "--config", str(self.config)])


def _wav(seconds: int) -> bytes:
    """The first seconds of a real call, as a stereo WAV file's bytes."""
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    buffer = io.BytesIO()
    sf.write(buffer, audio[: seconds * rate], rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def world(postgres: PostgresCluster, tmp_path: Path) -> Iterator[World]:
    state = tmp_path / "state"
    password = tmp_path / "pg-password"
    password.write_text(postgres.password)
    target = PgTarget(postgres.database("batch"), postgres.password)
    config = tmp_path / "callscribe.toml"
    config.write_text(
        f"[daemon]\nstate_dir = {json.dumps(str(state))}\n"
        f'[store]\nurl = "{target.url}"\npassword = "file:{password}"\n'
        f'[sinks.archive]\ntype = "jsonl"\npath = {json.dumps(str(state / "archive.jsonl"))}\n',
        "utf-8",
    )
    database = Database("postgresql", target=target)
    store = database.open()
    rec = state / "recordings"
    ids = {
        "first": add_call(store, rec, 1, "done", text="Тариф «Максимум», пожалуйста.",
                          audio=_wav(6), changes={"client_number": NUMBER}),
        "second": add_call(store, rec, 2, "done", sinks=("archive",)),
        "other": add_call(store, rec, 3, "done", text=f"Перезвоните на {NUMBER}.",
                          changes={"client_number": OTHER}),
    }  # fmt: skip
    yield World(state, config, database, store, ids)
    database.close()


def test_calls_list_finds_by_number_and_words(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.cli("calls", "list", "--number", "+79001234567", "--format", "json") == 0
    found = json.loads(capsys.readouterr().out)
    assert sorted(c["id"] for c in found) == sorted([world.ids["first"], world.ids["second"]])
    assert all("1234567" not in json.dumps(c) for c in found)  # masked unless asked

    assert world.cli("calls", "list", "--text", "ТАРИФ", "--format", "json") == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [world.ids["first"]]


def test_retranscribe_dry_run_plans_without_changing_anything(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    first = world.ids["first"]
    assert world.cli("retranscribe", "--call", str(first), "--set", "beam_size=3", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would transcribe again: 1 call(s)" in out
    assert world.database.sql("SELECT count(*) AS n FROM retranscribe_runs") == [{"n": 0}]
    assert len(world.store.transcript_versions(first)) == 1


def test_purge_phone_erases_the_number_from_every_table(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = [world.ids["first"], world.ids["second"]]
    recordings = [world.store.recording(i) for i in mine]

    assert world.cli("purge", "--phone", "+7 900 123 45 67", "--yes", "--reason", "req-7") == 0

    out = capsys.readouterr().out
    assert "erased: 2 call(s), 2 recording file(s)" in out
    assert f"other people's calls {world.ids['other']}" in out
    assert [c.id for c in world.store.calls()] == [world.ids["other"]]
    assert all(r is not None and not Path(r.path).exists() for r in recordings)
    # Left is the transcript of another person's call that says the number (listed, not
    # erased); gone with it, nothing holds the number.
    world.store.erase_calls([world.ids["other"]], "test")
    assert "1234567" not in world.database.every_table()
    audit = world.database.sql("SELECT category, reason FROM audit WHERE reason = 'req-7'")
    assert {row["category"] for row in audit} >= {"call", "recording", "transcript", "delivery"}


@pytest.mark.slow
def test_retranscribe_keeps_the_old_transcript_as_a_version(world: World, model_dir: Path) -> None:
    first = world.ids["first"]
    result = subprocess.run(
        [sys.executable, "-m", "callscribe", "retranscribe", "--call", str(first),
         "--set", "beam_size=2", "--quiet", "--config", str(world.config)],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "CALLSCRIBE_MODEL_DIR": str(model_dir)},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "done:    1 now" in result.stdout
    versions = world.store.transcript_versions(first)
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].settings["beam_size"] == 2
    assert versions[1].transcript.duration == pytest.approx(6.0, abs=0.1)
    assert world.store.call(first).state is CallState.DONE
    (item,) = world.database.sql("SELECT state, version FROM retranscribe_items")
    assert item == {"state": "done", "version": 2}
