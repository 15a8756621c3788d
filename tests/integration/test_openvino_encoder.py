"""The OpenVINO encoder against CTranslate2's, on the real model and a real call."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import WhisperModel

from callscribe.config import TranscriptionSettings
from callscribe.errors import ModelError
from callscribe.transcription import openvino_encoder
from callscribe.transcription.audio import decode_file
from callscribe.transcription.ct2_weights import read_weights
from callscribe.transcription.engine import Engine
from callscribe.transcription.loading import _encoder
from callscribe.transcription.models import resolve_model
from callscribe.transcription.openvino_encoder import OpenVinoEncoder, amx_missing
from tests.samples import sample_calls

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path(model_dir: Path) -> Path:
    return Path(resolve_model("base", model_dir))


@pytest.fixture(scope="module")
def reference(model_path: Path) -> WhisperModel:
    # float32, not the int8 the engine runs: the yardstick is the model itself.
    return WhisperModel(str(model_path), device="cpu", compute_type="float32", cpu_threads=2)


@pytest.mark.parametrize("seconds", [3, 17, 24])
def test_output_matches_the_float32_model(
    model_path: Path, reference: WhisperModel, seconds: int
) -> None:
    _, path = sample_calls()[1]
    audio = decode_file(path).tracks[0].samples[16_000 * 5 : 16_000 * (5 + seconds)]
    features = reference.feature_extractor(audio)[..., :-1]
    expected = np.asarray(reference.encode(features[np.newaxis]))
    encoder = OpenVinoEncoder(model_path, streams=1, threads_per_stream=2)
    actual = encoder(features)
    assert actual.shape == expected.shape == (1, features.shape[-1] // 2, 512)
    # bfloat16 keeps 8 bits of mantissa: measured 2.1-2.7 % relative error, int8 about 7 %.
    assert np.linalg.norm(actual - expected) / np.linalg.norm(expected) < 0.04


def test_a_model_without_an_encoder_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    header = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 3, 0)
    model.write_bytes(header + struct.pack("<I", 0))
    with pytest.raises(ModelError, match="no tensor"):
        OpenVinoEncoder(tmp_path, streams=1, threads_per_stream=1)


def test_a_truncated_model_file_names_the_file(model_path: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "model.bin"
    damaged.write_bytes((model_path / "model.bin").read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match=r"model\.bin is truncated"):
        read_weights(damaged, "encoder/")


def test_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(struct.pack("<I", 99) + b"\0" * 16)
    with pytest.raises(ModelError, match="format version 99"):
        read_weights(model, "encoder/")


def test_weights_are_read_by_name(model_path: Path) -> None:
    weights = read_weights(model_path / "model.bin", "encoder/")
    assert weights["encoder/conv1/weight"].shape == (512, 80, 3)
    assert int(weights["encoder/num_heads"]) == 8
    assert not any(name.startswith("decoder/") for name in weights)


def test_a_cpu_without_amx_is_named(tmp_path: Path) -> None:
    without = tmp_path / "without"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    assert amx_missing(without) == "this CPU has no AMX"
    with_amx = tmp_path / "with"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8\n")
    assert amx_missing(with_amx) is None
    assert amx_missing(tmp_path / "missing") == "the CPU's features cannot be read"


@pytest.mark.parametrize(("flags", "uses_openvino"), [("avx512f amx_bf16", True), ("avx2", False)])
def test_auto_picks_openvino_only_on_amx_cpus(
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: str,
    uses_openvino: bool,
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu {flags}\n")
    monkeypatch.setattr(openvino_encoder, "CPUINFO", cpuinfo)
    engine = Engine(TranscriptionSettings(model_dir=model_dir))
    assert engine.encoder == ("openvino" if uses_openvino else "ctranslate2")
    # The OpenVINO encoder's memory is paid for with smaller decoder batches.
    assert engine.batch_size == (2 if uses_openvino else 4)
    _, path = sample_calls()[0]
    assert engine.transcribe(decode_file(path)).segments


def test_openvino_needs_a_model_directory() -> None:
    with pytest.raises(ModelError, match="needs a local model directory"):
        _encoder(TranscriptionSettings(encoder="openvino"), "small")


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw
