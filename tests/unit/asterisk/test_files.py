"""Recordings read out of the spool: the layouts Asterisk wrote in the capture's lab, and
paths that must be refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callscribe.connectors.sources.asterisk.files import SpoolReader, local_path
from callscribe.connectors.sources.asterisk.plan import RecordingPlan, from_files, from_mixmonitor
from callscribe.domain import Speaker
from callscribe.errors import FetchError
from tests.standins.asterisk import RECORDINGS

REMOTE = "/var/spool/asterisk/monitor"
CALL1 = "20261121-232442-1795303482.0"
CALL2 = "20261121-232445-1795303485.4"
CALL5 = "20261121-232532-1795303532.16"


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    shutil.copytree(RECORDINGS, folder)
    return folder


def reader(spool: Path, max_bytes: int = 10 << 20) -> SpoolReader:
    return SpoolReader((spool,), {REMOTE: str(spool)}, max_bytes)


def loudness(samples: np.ndarray, rate: int) -> list[int]:
    seconds = len(samples) // rate
    return [
        int(np.sqrt(np.mean(samples[i * rate : (i + 1) * rate].astype(float) ** 2)))
        for i in range(seconds)
    ]


def test_leg_files_become_one_stereo_wav_operator_left(spool: Path, tmp_path: Path) -> None:
    plan = from_mixmonitor(f"{CALL1}.wav,br({CALL1}-rx.wav)t({CALL1}-tx.wav)", REMOTE)
    fetched = reader(spool).copy(plan, tmp_path / "out")
    audio, rate = sf.read(fetched.path, dtype="int16")
    tx, _ = sf.read(spool / f"{CALL1}-tx.wav", dtype="int16")
    rx, _ = sf.read(spool / f"{CALL1}-rx.wav", dtype="int16")
    assert rate == 8000
    assert audio.shape == (len(tx), 2)
    assert np.array_equal(audio[:, 0], tx)  # to the client: the operator
    assert np.array_equal(audio[:, 1], rx)  # from the client
    assert loudness(audio[:, 0], rate)[0] > 1000  # the operator greets first
    assert loudness(audio[:, 1], rate)[0] == 0
    assert plan.channels == (Speaker.OPERATOR, Speaker.CLIENT)


def test_legs_recorded_on_the_operators_phone_swap(spool: Path, tmp_path: Path) -> None:
    plan = from_mixmonitor(f"{CALL1}.wav,br({CALL1}-rx.wav)t({CALL1}-tx.wav)", REMOTE)
    fetched = reader(spool).copy(plan.on_side(Speaker.OPERATOR), tmp_path / "out")
    audio, _ = sf.read(fetched.path, dtype="int16")
    rx, _ = sf.read(spool / f"{CALL1}-rx.wav", dtype="int16")
    assert np.array_equal(audio[:, 0], rx)


def test_d_interleaved_raw_gets_a_stereo_header_client_left(spool: Path, tmp_path: Path) -> None:
    plan = from_mixmonitor(f"{CALL5}-stereo.raw,bD", REMOTE)
    fetched = reader(spool).copy(plan, tmp_path / "out")
    audio, rate = sf.read(fetched.path, dtype="int16")
    raw = np.frombuffer((spool / f"{CALL5}-stereo.raw").read_bytes(), dtype="<i2").reshape(-1, 2)
    assert rate == 8000
    assert np.array_equal(audio, raw)
    assert loudness(audio[:, 0], rate)[3] > 1000  # the client speaks at 3 s
    assert loudness(audio[:, 1], rate)[0] > 1000  # the operator at once
    assert plan.channels == (Speaker.CLIENT, Speaker.OPERATOR)


def test_a_mixed_file_is_copied_as_it_is(spool: Path, tmp_path: Path) -> None:
    fetched = reader(spool).copy(RecordingPlan(mixed=f"{REMOTE}/{CALL1}.wav"), tmp_path / "out")
    assert fetched.path.read_bytes() == (spool / f"{CALL1}.wav").read_bytes()


def test_header_only_files_are_not_a_recording(spool: Path, tmp_path: Path) -> None:
    plan = from_mixmonitor(f"{CALL2}.wav,br({CALL2}-rx.wav)t({CALL2}-tx.wav)", REMOTE)
    with pytest.raises(FetchError, match="header only") as caught:
        reader(spool).copy(plan, tmp_path / "out")
    assert not caught.value.retryable
    with pytest.raises(FetchError, match="header only"):
        reader(spool).copy(RecordingPlan(mixed=f"{REMOTE}/{CALL2}.wav"), tmp_path / "out")
    assert not list((tmp_path / "out").glob("*"))


def test_legs_that_cannot_be_spliced_fall_back_to_the_mixed_file(
    spool: Path, tmp_path: Path
) -> None:
    (spool / "gsm-rx.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(16) + b"data")
    plan = RecordingPlan(
        mixed=f"{REMOTE}/{CALL1}.wav", read=f"{REMOTE}/gsm-rx.wav", write=f"{REMOTE}/{CALL1}-tx.wav"
    )
    with pytest.raises(FetchError, match="without a readable format"):
        reader(spool).copy(plan, tmp_path / "out")
    ulaw, _ = sf.read(spool / f"{CALL1}-rx.wav", dtype="int16")
    sf.write(spool / "ulaw-rx.wav", ulaw, 8000, subtype="ULAW")  # not 16-bit samples
    plan = RecordingPlan(
        mixed=f"{REMOTE}/{CALL1}.wav",
        read=f"{REMOTE}/ulaw-rx.wav",
        write=f"{REMOTE}/{CALL1}-tx.wav",
    )
    fetched = reader(spool).copy(plan, tmp_path / "out")
    assert fetched.path.read_bytes() == (spool / f"{CALL1}.wav").read_bytes()


def test_a_d_file_with_a_wav_name_is_refused_with_the_reason(spool: Path, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="headerless file name"):
        reader(spool).copy(
            RecordingPlan(mixed=f"{REMOTE}/{CALL1}.wav", interleaved=True), tmp_path / "o"
        )


@pytest.mark.parametrize(
    "remote",
    [
        f"{REMOTE}/../../../../etc/passwd",
        "/etc/passwd",
        f"{REMOTE}/link-out.wav",
    ],
)
def test_paths_outside_the_recording_folders_are_refused(
    spool: Path, tmp_path: Path, remote: str
) -> None:
    secret = tmp_path / "secret.wav"
    shutil.copy(spool / f"{CALL1}.wav", secret)
    (spool / "link-out.wav").symlink_to(secret)
    with pytest.raises(FetchError, match="outside the directories") as caught:
        reader(spool).copy(RecordingPlan(mixed=remote), tmp_path / "out")
    assert not caught.value.retryable


def test_a_symlink_inside_the_folder_is_followed(spool: Path, tmp_path: Path) -> None:
    (spool / "alias.wav").symlink_to(spool / f"{CALL1}.wav")
    fetched = reader(spool).copy(RecordingPlan(mixed=f"{REMOTE}/alias.wav"), tmp_path / "out")
    assert fetched.size == (spool / f"{CALL1}.wav").stat().st_size


def test_a_file_over_the_limit_is_refused(spool: Path, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="over the limit"):
        reader(spool, max_bytes=1000).copy(
            RecordingPlan(mixed=f"{REMOTE}/{CALL1}.wav"), tmp_path / "o"
        )


def test_a_missing_file_is_worth_waiting_for(spool: Path, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no such file") as caught:
        reader(spool).snapshot(RecordingPlan(mixed=f"{REMOTE}/later.wav"))
    assert caught.value.retryable


def test_path_map_replaces_the_longest_prefix_by_whole_components() -> None:
    mapping = {"/var/spool/asterisk": "/mnt/a", "/var/spool/asterisk/monitor": "/mnt/m"}
    assert local_path("/var/spool/asterisk/monitor/x.wav", mapping) == Path("/mnt/m/x.wav")
    assert local_path("/var/spool/asterisk/voicemail/x.wav", mapping) == Path(
        "/mnt/a/voicemail/x.wav"
    )
    assert local_path("/var/spool/asterisk-other/x.wav", mapping) == Path(
        "/var/spool/asterisk-other/x.wav"
    )
    # Normalised before it is mapped: ".." cannot climb out through the map.
    assert local_path("/var/spool/asterisk/monitor/../../../etc/x", mapping) == Path("/var/etc/x")


def test_files_known_by_name_only_are_grouped_into_legs_and_mixed() -> None:
    paths = [f"/m/{CALL1}-tx.wav", f"/m/{CALL1}.wav", f"/m/{CALL1}-rx.wav"]
    plan = from_files(paths, ("-rx", "-tx"), raw_stereo=True)
    assert (plan.mixed, plan.read, plan.write) == (f"/m/{CALL1}.wav", paths[2], paths[0])
    assert from_files([f"/m/{CALL5}-stereo.raw"], ("-rx", "-tx"), raw_stereo=True).interleaved
    assert not from_files([f"/m/{CALL5}-stereo.raw"], ("-rx", "-tx"), raw_stereo=False).interleaved
