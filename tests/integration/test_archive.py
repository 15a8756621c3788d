"""What ``callscribe import`` makes of an archive before the model runs: which files are
one recording, what each call is about (FreePBX names, sidecars, metadata rows) and its
identity, so the same recording is never imported twice."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callscribe.archive import Importer, Options, find_groups
from callscribe.archive_metadata import read_metadata
from callscribe.config.daemon import DaemonSettings
from callscribe.config.settings import Settings
from callscribe.domain import Direction, Speaker
from callscribe.errors import ConfigError
from callscribe.refetch import IMPORTED
from callscribe.store.base import RecordingFile
from callscribe.store.sqlite import SqliteStore

LEGS = ("-rx", "-tx")
MSK = timezone(timedelta(hours=3))
FREEPBX = "in-74950000000-79991234567-20261120-100000-1763622000.1"


def _wav(path: Path, seconds: float = 0.5, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(-2000, 2000, int(8000 * seconds), dtype=np.int16)
    sf.write(path, noise, 8000, subtype="PCM_16")
    return path


def _header_only(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", 0)
    )  # fmt: skip
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state" / "callscribe.db")
    yield s
    s.close()


def importer(store: SqliteStore, tmp_path: Path, metadata: Path | None = None) -> Importer:
    settings = Settings(daemon=DaemonSettings(state_dir=tmp_path / "state"))
    options = Options(
        source="import",
        zone=MSK,
        leg_suffixes=LEGS,
        raw_stereo=True,
        deliver=False,
        **({"metadata": read_metadata(metadata)} if metadata else {}),
    )
    return Importer(store, settings, options)


def test_leg_files_are_one_recording_and_strays_are_counted(tmp_path: Path) -> None:
    tree = tmp_path / "monitor"
    _wav(tree / "2026" / "11" / "20" / f"{FREEPBX}.wav")
    _wav(tree / "2026" / "11" / "20" / "1763622000.2-rx.wav", seed=1)
    _wav(tree / "2026" / "11" / "20" / "1763622000.2-tx.wav", seed=2)
    (tree / "2026" / "11" / "20" / f"{FREEPBX}.json").write_text("{}", "utf-8")  # a sidecar
    (tree / "notes.txt").write_text("not a recording", "utf-8")
    _wav(tree / "top.wav", seed=3)

    groups, ignored = find_groups([tree], recursive=True, leg_suffixes=LEGS)
    flat, _ = find_groups([tree], recursive=False, leg_suffixes=LEGS)

    assert sorted(len(g.files) for g in groups) == [1, 1, 2]
    assert ignored == 1
    assert [g.relative for g in flat] == ["top.wav"]
    (legs,) = [g for g in groups if len(g.files) == 2]
    assert [p.name for p in legs.files] == ["1763622000.2-rx.wav", "1763622000.2-tx.wav"]


def test_a_freepbx_name_and_its_sidecar_describe_the_call(
    store: SqliteStore, tmp_path: Path
) -> None:
    day = tmp_path / "monitor" / "2026" / "11" / "20"
    _wav(day / f"{FREEPBX}.wav")
    (day / f"{FREEPBX}.json").write_text(
        json.dumps({"operator": {"id": "101", "name": "Иван"}, "direction": "sideways"}), "utf-8"
    )
    groups, _ = find_groups([tmp_path / "monitor"], recursive=True, leg_suffixes=LEGS)
    work = importer(store, tmp_path)

    (candidate,) = work.new_calls(groups)

    event = candidate.event
    assert event.external_id.startswith("sha256:")
    assert (event.direction, event.client_number, event.line_number) == (
        Direction.INBOUND, "79991234567", "74950000000",
    )  # fmt: skip
    assert event.started_at == datetime(2026, 11, 20, 10, 0, tzinfo=MSK)
    assert (event.operator_id, event.operator_name) == ("101", "Иван")
    assert event.raw["file"] == f"2026/11/20/{FREEPBX}.wav"
    assert event.raw[IMPORTED]["plan"]["mixed"] == str(day / f"{FREEPBX}.wav")
    (problem,) = work.report.problems
    assert "direction" in problem  # the bad value left out, the call kept


def test_the_same_audio_anywhere_is_the_same_call(store: SqliteStore, tmp_path: Path) -> None:
    original = _wav(tmp_path / "a" / "call.wav")
    (tmp_path / "b").mkdir()
    shutil.copy(original, tmp_path / "b" / "renamed.wav")
    groups, _ = find_groups([tmp_path / "a", tmp_path / "b"], recursive=False, leg_suffixes=LEGS)
    work = importer(store, tmp_path)
    first, second = work.new_calls(groups)
    assert first.event.external_id == second.event.external_id


def test_a_metadata_row_names_the_call_and_its_id_is_its_identity(
    store: SqliteStore, tmp_path: Path
) -> None:
    _wav(tmp_path / "rec" / "001.wav")
    _header_only(tmp_path / "rec" / "002.wav")
    metadata = tmp_path / "calls.csv"
    metadata.write_text(
        "file,id,direction,started_at,client_number,operator_id,fields.deal,channels\n"
        '001.wav,crm-1,outbound,2026-11-20T10:00:00+03:00,+79005556677,102,D-7,"client,operator"\n'
        "rec/002.wav,,inbound,,8 900 555-66-77,,,\n"
        "003.wav,crm-3,inbound,,,,,\n",
        "utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("name,id\n001.wav,1\n", "utf-8")
    with pytest.raises(ConfigError, match="'file' column"):
        read_metadata(bad)
    # Imported from the folder above: 002.wav is named by its path below it.
    groups, _ = find_groups([tmp_path], recursive=True, leg_suffixes=LEGS)
    work = importer(store, tmp_path, metadata)

    by_name = {c.group.main.name: c.event for c in work.new_calls(groups)}

    crm = by_name["001.wav"]
    assert (crm.external_id, crm.direction, crm.operator_id) == ("crm-1", Direction.OUTBOUND, "102")
    assert crm.raw["fields"] == {"deal": "D-7"}
    assert crm.recordings[0].channels == (Speaker.CLIENT, Speaker.OPERATOR)
    missed = by_name["002.wav"]  # a header and nothing else
    assert missed.recordings == ()
    assert missed.client_number == "8 900 555-66-77"
    assert missed.external_id.startswith("sha256:")
    assert work.options.metadata.unused() == ["003.wav"]


def test_metadata_as_jsonl_with_a_broken_line(tmp_path: Path) -> None:
    metadata = tmp_path / "calls.jsonl"
    metadata.write_text(
        '{"file": "a.wav", "id": 7, "operator": {"id": "101"}, "fields": {"deal": 1}}\n'
        "not json\n"
        '{"file": "a.wav", "id": 8}\n'
        '{"id": 9}\n',
        "utf-8",
    )
    found = read_metadata(metadata)
    (row,) = found.rows.values()
    assert (row.external_id, row.details.fields["operator_id"]) == ("7", "101")
    assert [p.split(":")[0] for p in found.problems] == ["line 2", "line 3", "line 4"]


def test_known_calls_are_not_offered_again(store: SqliteStore, tmp_path: Path) -> None:
    _wav(tmp_path / "rec" / "001.wav")
    groups, _ = find_groups([tmp_path / "rec"], recursive=False, leg_suffixes=LEGS)
    work = importer(store, tmp_path)
    (candidate,) = work.new_calls(groups)
    file = RecordingFile(str(candidate.group.main), 1, "ab" * 32)
    store.import_call(candidate.event, file, None, error="a stand-in for the model")
    again = importer(store, tmp_path)
    assert again.new_calls(groups) == []
    assert again.report.known == 1
