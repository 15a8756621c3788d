"""The Silero voice detector run by OpenVINO instead of onnxruntime, where OpenVINO runs the
encoder.

Why: on the Intel Xeon with AMX the same ONNX file, in float32, ran 3-4x faster in OpenVINO
(0.06-0.08 against 0.29 s for a 94 s track, one thread) with the same speech probabilities
to 2e-6; the detector was a tenth of callscribe's work on the shared samples.  bfloat16 was
faster still but moved 33 of 2,925 frames across the threshold, so it is float32.

faster-whisper keeps one detector per process (``get_vad_model``) and calls its ONNX
session's ``run``; :func:`run_voice_detector_in_openvino` gives that detector a session
backed by OpenVINO, so ``get_speech_timestamps`` stays faster-whisper's own.
"""

from __future__ import annotations

import os

import numpy as np
from faster_whisper.utils import get_assets_path
from faster_whisper.vad import get_vad_model

from .openvino_cpu import ThreadRequests, compile_on_cpu

VAD_MODEL = "silero_vad_v6.onnx"
# 8 s of audio: 0.08 s for a 94 s track against 0.06 s in slices of 1,000 and 0.10 s whole,
# for 30 MB less peak memory than slices of 1,000 (six calls: 826 against 857 MB).
FRAMES_AT_ONCE = 256


class _OpenVinoSession:
    """The slice of ``onnxruntime.InferenceSession`` faster-whisper's detector uses."""

    def __init__(self, requests: ThreadRequests) -> None:
        self._requests = requests

    def run(self, _outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Speech probabilities of a batch of frames, and the detector's state after it.

        The detector carries its state from frame to frame through the batch, so slices of
        it, the state handed on, give the same probabilities.  faster-whisper sends up to
        10,000 frames at once; OpenVINO keeps buffers for the largest batch it has seen,
        which for 10,000 frames raised the peak by 170 MB.
        """
        request = self._requests.request()
        frames, h, c = feed["input"], feed["h"], feed["c"]
        probabilities = []
        for start in range(0, len(frames), FRAMES_AT_ONCE):
            part = frames[start : start + FRAMES_AT_ONCE]
            outputs = request.infer({"input": part, "h": h, "c": c})
            probability, h, c = (np.array(output) for output in outputs.values())
            probabilities.append(probability)
        return [np.concatenate(probabilities), h, c]


def openvino_session(streams: int) -> _OpenVinoSession:
    """The detector's ONNX file compiled by OpenVINO in float32, ``streams`` runs at once."""
    path = os.path.join(get_assets_path(), VAD_MODEL)
    return _OpenVinoSession(
        compile_on_cpu(
            path,
            what=f"the voice detector {path}",
            precision="f32",
            streams=streams,
            threads=streams,
        )
    )


def run_voice_detector_in_openvino(streams: int) -> None:
    """Switch this process's voice detector to OpenVINO."""
    get_vad_model().session = openvino_session(streams)
