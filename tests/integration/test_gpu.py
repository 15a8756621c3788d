"""The CUDA path: float16 on an NVIDIA GPU.  Runs only where CTranslate2 sees a GPU."""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import pytest

from callscribe.config import TranscriptionSettings
from callscribe.domain import Speaker
from callscribe.transcription.accuracy import score, turns_of
from callscribe.transcription.audio import decode_file
from callscribe.transcription.engine import Engine
from tests.samples import sample_calls

GPUS = ctranslate2.get_cuda_device_count()

needs_gpu = pytest.mark.skipif(
    GPUS == 0, reason="no CUDA device visible to CTranslate2 on this machine"
)


@pytest.mark.slow
@needs_gpu
def test_cuda_float16_transcribes_a_sample_call(model_dir: Path) -> None:
    settings = TranscriptionSettings(model_dir=model_dir, device="cuda")
    assert settings.effective_compute_type == "float16"
    call, path = sample_calls()[0]
    transcript = Engine(settings).transcribe(decode_file(path))
    assert transcript.speakers == {Speaker.OPERATOR, Speaker.CLIENT}
    assert score(turns_of(call), transcript.segments).wer <= 0.3


def test_the_cpu_defaults_do_not_need_cuda() -> None:
    settings = TranscriptionSettings()
    assert (settings.device, settings.effective_compute_type) == ("cpu", "int8")


def test_one_model_worker_per_gpu_by_default() -> None:
    # Several workers would each hold a copy of the model in GPU memory for no gain: a
    # GPU runs one large batch faster than two small ones.
    assert TranscriptionSettings(device="cuda").effective_workers == 1
    assert TranscriptionSettings(device="cuda", workers=2).effective_workers == 2
