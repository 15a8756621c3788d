"""OpenVINO on the CPU, shared the way callscribe's model workers share it.

Both OpenVINO models (the encoder and the voice detector) are called from the engine's
worker threads at once: each is compiled with one stream per worker, and each thread keeps
its own infer request, since a request holds one inference's buffers.
"""

from __future__ import annotations

import threading
from typing import Any

from callscribe.errors import ModelError


def openvino_missing() -> str | None:
    """Why OpenVINO cannot be used, or None when it is installed."""
    try:
        import openvino  # noqa: F401, PLC0415  (optional: only these models need it)
    except ImportError:
        return "the openvino package is not installed (pip install 'callscribe[amx]')"
    return None


class ThreadRequests:
    """A compiled model and, per calling thread, the infer request that runs it."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._local = threading.local()

    def request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request


def compile_on_cpu(
    model: Any, *, what: str, precision: str, streams: int, threads: int
) -> ThreadRequests:
    """Compile ``model`` (an ``openvino.Model`` or a file path) for ``streams`` callers at once.

    Raises :class:`ModelError` naming ``what`` when OpenVINO is missing or refuses it.
    """
    try:
        import openvino  # noqa: PLC0415  (optional at run time)
    except ImportError as exc:
        raise ModelError(
            f"{what} in OpenVINO needs the openvino package: pip install 'callscribe[amx]'"
        ) from exc
    try:
        compiled = openvino.Core().compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "NUM_STREAMS": streams,
                "INFERENCE_NUM_THREADS": threads,
                # CTranslate2's workers share these cores; pinned threads would fight them.
                "ENABLE_CPU_PINNING": False,
            },
        )
    except RuntimeError as exc:
        raise ModelError(f"OpenVINO cannot compile {what}: {exc}") from exc
    return ThreadRequests(compiled)
