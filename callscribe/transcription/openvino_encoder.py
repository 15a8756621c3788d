"""Whisper's encoder run by OpenVINO in bfloat16, on CPUs with AMX.

Why: on an Intel Xeon with AMX, CTranslate2 runs the encoder's weight products in int8 on
AMX but its attention in float32, materialising every score matrix (1,200 x 1,200 for 8
heads per layer on a 24 s window), which is half of the encoder's time.  OpenVINO runs the
whole encoder in bfloat16 on AMX with a fused attention kernel: 2.1 against 3.9
thread-seconds on the shared samples (docs/benchmarks.md).  The decoder stays in
CTranslate2, which takes the encoder's output as it is.

The graph is built from the CTranslate2 model's own weights (``ct2_weights.py``), so there
is one model on disk; Whisper's encoder is two convolutions with GELU, sinusoidal positions
and pre-norm transformer layers with a fused query/key/value projection.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from callscribe.errors import ModelError

from .ct2_weights import read_weights
from .openvino_cpu import compile_on_cpu

CPUINFO = Path("/proc/cpuinfo")


def amx_missing(cpuinfo: Path | None = None) -> str | None:
    """Why this CPU is not the kind OpenVINO's encoder was measured faster on, or None.

    Without AMX bfloat16 products run on AVX-512 at a fraction of the rate, and
    CTranslate2's int8 encoder was not beaten there.
    """
    try:
        flags = (cpuinfo or CPUINFO).read_text(errors="replace")
    except OSError:
        return "the CPU's features cannot be read"
    if not re.search(r"^flags\s*:.*\bamx_bf16\b", flags, re.MULTILINE):
        return "this CPU has no AMX"
    return None


class OpenVinoEncoder:
    """Encodes one window's log-mel features at a time; safe to call from several threads."""

    def __init__(self, model_dir: Path, *, streams: int, threads_per_stream: int) -> None:
        weights = read_weights(model_dir / "model.bin", "encoder/")
        try:
            graph = _build(weights)
        except KeyError as exc:
            raise ModelError(f"{model_dir} is not a Whisper model: no tensor {exc}") from exc
        self._requests = compile_on_cpu(
            graph,
            what=f"the encoder of {model_dir}",
            precision="bf16",
            streams=streams,
            threads=streams * threads_per_stream,
        )

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(mel bins, frames) float32 in, (1, frames / 2, model width) float32 out."""
        request = self._requests.request()
        output = request.infer({0: np.ascontiguousarray(features[np.newaxis])})[0]
        return np.array(output, dtype=np.float32)


def _build(weights: dict[str, np.ndarray]) -> Any:
    import openvino  # noqa: PLC0415
    import openvino.opset13 as op  # noqa: PLC0415

    def const(name: str) -> Any:
        # Half-precision weights stay half-size in the graph; the plugin turns them into
        # bfloat16 when it compiles.
        return op.convert(op.constant(np.ascontiguousarray(weights[name])), "f32")

    def ints(*values: int) -> Any:
        return op.constant(np.array(values, dtype=np.int64))

    def conv(x: Any, name: str, stride: int) -> Any:
        y = op.convolution(x, const(f"{name}/weight"), [stride], [1], [1], [1])
        return op.add(y, op.reshape(const(f"{name}/bias"), ints(1, -1, 1), special_zero=False))

    def norm(x: Any, name: str) -> Any:
        y = op.mvn(x, ints(-1), normalize_variance=True, eps=1e-5, eps_mode="inside_sqrt")
        return op.add(op.multiply(y, const(f"{name}/gamma")), const(f"{name}/beta"))

    def linear(x: Any, name: str) -> Any:
        y = op.matmul(x, const(f"{name}/weight"), transpose_a=False, transpose_b=True)
        return op.add(y, const(f"{name}/bias"))

    heads = int(weights["encoder/num_heads"])
    width = int(weights["encoder/conv2/weight"].shape[0])
    mel_bins = int(weights["encoder/conv1/weight"].shape[1])
    layers = len(
        {match[1] for name in weights if (match := re.match(r"encoder/layer_(\d+)/", name))}
    )

    def split_heads(x: Any) -> Any:  # (1, T, width) -> (1, heads, T, width / heads)
        x = op.reshape(x, ints(0, -1, heads, width // heads), special_zero=True)
        return op.transpose(x, ints(0, 2, 1, 3))

    mel = op.parameter([1, mel_bins, -1], np.float32, name="mel")
    x = op.gelu(conv(mel, "encoder/conv1", 1), "erf")
    x = op.gelu(conv(x, "encoder/conv2", 2), "erf")
    x = op.transpose(x, ints(0, 2, 1))
    frames = op.gather(op.shape_of(x), ints(1), op.constant(np.int64(0)))
    positions = const("encoder/position_encodings/encodings")
    x = op.add(x, op.slice(positions, ints(0), frames, ints(1)))
    for index in range(layers):
        layer = f"encoder/layer_{index}"
        h = norm(x, f"{layer}/self_attention/layer_norm")
        qkv = linear(h, f"{layer}/self_attention/linear_0")
        query, key, value = op.split(qkv, op.constant(np.int64(-1)), 3).outputs()
        attended = op.scaled_dot_product_attention(
            split_heads(query), split_heads(key), split_heads(value), causal=False
        )
        attended = op.transpose(attended, ints(0, 2, 1, 3))
        attended = op.reshape(attended, ints(0, -1, width), special_zero=True)
        x = op.add(x, linear(attended, f"{layer}/self_attention/linear_1"))
        h = norm(x, f"{layer}/ffn/layer_norm")
        h = linear(op.gelu(linear(h, f"{layer}/ffn/linear_0"), "erf"), f"{layer}/ffn/linear_1")
        x = op.add(x, h)
    x = norm(x, "encoder/layer_norm")
    return openvino.Model([x], [mel], "whisper_encoder")
