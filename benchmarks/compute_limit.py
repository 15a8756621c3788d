"""How close does callscribe get to what this machine can compute?

Counts the arithmetic Whisper base needs for the calls callscribe actually decoded
(encoder over every window at its real length, beam-search steps over the tokens it
really generated, the alignment pass), measures the machine's matrix-multiply rates (fp32
with numpy's BLAS, int8 with onnxruntime's MatMulInteger, both on all cores), and prints
the real-time factor each rate would allow next to the one callscribe reaches.

    .venv/bin/python benchmarks/compute_limit.py [--generate N | --calls DIR]

Counts are multiply-adds x 2 (FLOPs or int8 OPs).  The model's shapes (Whisper base:
d_model 512, 6 + 6 layers, FFN 2048, 51,865 tokens) are from the Whisper paper.  The
limit is a floor, not a target: attention, softmax, layer norms and beam bookkeeping run in
fp32 and are not GEMMs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _bench_corpus import SAMPLES, generated, load_manifest, progress

from callscribe.config import TranscriptionSettings
from callscribe.transcription import decoder as decoder_module
from callscribe.transcription.audio import decode_file
from callscribe.transcription.engine import Engine

D, LAYERS, FFN, VOCAB, MELS = 512, 6, 2048, 51_865, 80
BEAM = TranscriptionSettings().beam_size


@dataclass(frozen=True)
class Flops:
    """Arithmetic split by how CTranslate2 runs it on a CPU in int8 mode: the weight
    matrices in int8, the attention products (scores and their weighted sums) in fp32."""

    weights: float
    attention: float

    def __add__(self, other: Flops) -> Flops:
        return Flops(self.weights + other.weights, self.attention + other.attention)

    def __mul__(self, factor: float) -> Flops:
        return Flops(self.weights * factor, self.attention * factor)

    @property
    def total(self) -> float:
        return self.weights + self.attention


NO_FLOPS = Flops(0.0, 0.0)


def encoder_flops(mel_frames: int) -> Flops:
    t = mel_frames // 2  # the second convolution has stride 2
    convolutions = 2 * MELS * 3 * D * mel_frames + 2 * D * 3 * D * t
    weights = 4 * 2 * t * D * D + 2 * 2 * t * D * FFN
    return Flops(convolutions + LAYERS * weights, LAYERS * 2 * 2 * t * t * D)


def decoder_step_flops(encoder_frames: int, position: int) -> Flops:
    """One token through the decoder with its key/value cache (per beam)."""
    weights = 4 * 2 * D * D + 2 * 2 * D * D + 2 * 2 * D * FFN  # self, cross, MLP
    attention = 2 * 2 * position * D + 2 * 2 * encoder_frames * D
    return Flops(LAYERS * weights + 2 * D * VOCAB, LAYERS * attention)


def cross_kv_flops(encoder_frames: int) -> Flops:
    return Flops(LAYERS * 2 * 2 * encoder_frames * D * D, 0.0)


@dataclass
class Work:
    windows: int = 0
    flops: Flops = NO_FLOPS
    tokens: int = 0


def count(calls: Sequence[Path]) -> tuple[Work, float, float]:
    """Arithmetic of transcribing these calls, their audio seconds and wall seconds."""
    work = Work()
    original = decoder_module.WindowDecoder.decode

    def counting(self: decoder_module.WindowDecoder, audios, language):  # type: ignore[no-untyped-def]
        texts = original(self, audios, language)
        for audio, text in zip(audios, texts, strict=True):
            frames = decoder_module.bucket_size(len(audio)) // decoder_module.HOP
            tokens = text.tokens + 1  # and the end-of-text token
            encoded = frames // 2
            steps = sum((decoder_step_flops(encoded, p) for p in range(4, 4 + tokens)), NO_FLOPS)
            work.windows += 1
            work.tokens += tokens
            work.flops += encoder_flops(frames) + cross_kv_flops(encoded) + steps * BEAM
            work.flops += steps  # the alignment pass: every token once more
        return texts

    engine = Engine(TranscriptionSettings())
    audios = [decode_file(path) for path in calls]
    engine.transcribe(audios[0])
    started = time.perf_counter()
    engine.transcribe_many(audios)
    wall = time.perf_counter() - started
    decoder_module.WindowDecoder.decode = counting  # type: ignore[method-assign]
    try:
        engine.transcribe_many(audios)
    finally:
        decoder_module.WindowDecoder.decode = original  # type: ignore[method-assign]
    return work, sum(a.duration for a in audios), wall


def fp32_gemm_rate(size: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times)


def int8_gemm_rate(size: int = 2048, repeats: int = 5) -> float:
    import onnxruntime  # noqa: PLC0415
    from onnx import TensorProto, helper  # noqa: PLC0415 - only this measurement needs it

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "int8_gemm",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size]),
            helper.make_tensor_value_info("b", TensorProto.INT8, [size, size]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [size, size])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=9
    )  # an IR version every onnxruntime release still reads
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options)
    rng = np.random.default_rng(0)
    feeds = {
        "a": rng.integers(0, 255, (size, size), dtype=np.uint8),
        "b": rng.integers(-127, 127, (size, size), dtype=np.int8),
    }
    session.run(None, feeds)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--calls", type=Path, default=SAMPLES)
    source.add_argument("--generate", type=int, metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    folder = generated(args.generate, args.seed) if args.generate else args.calls
    calls = [c.path for c in load_manifest(folder)]
    progress("measuring matrix multiplication rates")
    fp32 = statistics.median(fp32_gemm_rate() for _ in range(3))
    int8 = statistics.median(int8_gemm_rate() for _ in range(3))
    progress("transcribing and counting")
    work, audio, wall = count(calls)
    per_second = work.flops.total / audio
    mixed = (work.flops.weights / int8 + work.flops.attention / fp32) / audio
    print(
        f"{len(calls)} calls, {audio:.0f} s of audio, {work.windows} windows, {work.tokens} tokens"
    )
    print(
        f"arithmetic: {work.flops.total / 1e9:.0f} GFLOP in all, "
        f"{per_second / 1e9:.2f} GFLOP per second of audio "
        f"({work.flops.attention / work.flops.total:.0%} of it attention, fp32 in CTranslate2)"
    )
    print(f"{'':34}{'rate G/s':>10}{'RTF floor':>11}")
    print(f"{'fp32 GEMM (numpy BLAS)':34}{fp32 / 1e9:10.0f}{per_second / fp32:11.4f}")
    print(f"{'int8 GEMM (onnxruntime)':34}{int8 / 1e9:10.0f}{per_second / int8:11.4f}")
    print(f"{'int8 weights + fp32 attention':34}{per_second / mixed / 1e9:10.0f}{mixed:11.4f}")
    achieved = work.flops.total / wall
    print(f"{'callscribe (achieved)':34}{achieved / 1e9:10.0f}{wall / audio:11.4f}")
    print(
        f"callscribe reaches {achieved / int8:.0%} of the int8 GEMM rate "
        f"and {achieved / fp32:.0%} of the fp32 one; "
        f"{wall / audio / mixed:.1f}x from the int8-weights + fp32-attention floor"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
