"""Read and write the tensors of a CTranslate2 ``model.bin``.

The OpenVINO encoder (``openvino_encoder.py``) is built from the same weights CTranslate2
runs, and the one-script vocabulary (``vocabulary.py``) is the same model with fewer rows in
its embedding matrix, so both need the file's tensors by name.  The file is a flat list of
named tensors (CTranslate2's ``src/models/model.cc``): a header, then for each tensor its
name, shape, type and bytes, then aliases.  Tensors are memory-mapped, so reading the
encoder's 20 million weights does not page in the decoder's.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from callscribe.errors import ModelError

# CTranslate2's DataType numbering; bfloat16 (5) has no numpy type and is refused.
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.int8),
    2: np.dtype(np.int16),
    3: np.dtype(np.int32),
    4: np.dtype(np.float16),
}
_TYPE_IDS = {dtype: type_id for type_id, dtype in _DTYPES.items()}
# Versions whose layout is the one read below (type id and byte count per tensor).
_SUPPORTED_VERSIONS = range(4, 7)


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A model.bin's contents: its header fields, its tensors by name, its aliases."""

    version: int
    spec: str
    revision: int
    tensors: dict[str, np.ndarray]
    aliases: tuple[tuple[str, str], ...]  # (alias, tensor it names)


class _Reader:
    def __init__(self, buffer: mmap.mmap, path: Path) -> None:
        self._buffer = buffer
        self._path = path
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        try:
            (value,) = struct.unpack_from("<" + fmt, self._buffer, self.offset)
        except struct.error as exc:
            raise ModelError(f"{self._path} is truncated (at byte {self.offset})") from exc
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        length = self.unpack("H")  # includes the terminating NUL
        raw = self._buffer[self.offset : self.offset + length - 1]
        self.offset += length
        return raw.decode("utf-8", errors="replace")


def read_model(path: Path, prefix: str = "") -> ModelFile:
    """The header, aliases and the tensors whose names start with ``prefix`` (read-only).

    Raises :class:`ModelError` naming the file when it is not a CTranslate2 model this
    reader understands.
    """
    try:
        with path.open("rb") as handle:
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model weights {path}: {exc}") from exc
    reader = _Reader(buffer, path)
    version = reader.unpack("I")
    if version not in _SUPPORTED_VERSIONS:
        raise ModelError(
            f"{path} is a CTranslate2 model of format version {version}; "
            f"versions {_SUPPORTED_VERSIONS.start}-{_SUPPORTED_VERSIONS.stop - 1} are supported"
        )
    spec = reader.string()
    revision = reader.unpack("I")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        type_id = reader.unpack("B")
        size = reader.unpack("I")
        start = reader.offset
        reader.offset += size
        if not name.startswith(prefix):
            continue
        dtype = _DTYPES.get(type_id)
        if dtype is None:
            raise ModelError(f"{path}: tensor {name} has a type this reader cannot use ({type_id})")
        if reader.offset > len(buffer) or size != dtype.itemsize * int(np.prod(shape)):
            raise ModelError(f"{path} is truncated or damaged (tensor {name})")
        array = np.frombuffer(buffer, dtype=dtype, count=size // dtype.itemsize, offset=start)
        tensors[name] = array.reshape(shape)
    aliases = tuple((reader.string(), reader.string()) for _ in range(reader.unpack("I")))
    return ModelFile(version, spec, revision, tensors, aliases)


def read_weights(path: Path, prefix: str) -> dict[str, np.ndarray]:
    """The tensors whose names start with ``prefix``, keyed by name."""
    return read_model(path, prefix).tensors


def write_model(path: Path, model: ModelFile) -> None:
    """Write ``model`` in the layout :func:`read_model` reads (and CTranslate2 loads)."""
    with path.open("wb") as out:
        out.write(struct.pack("<I", model.version))
        _write_string(out, model.spec)
        out.write(struct.pack("<II", model.revision, len(model.tensors)))
        for name, array in model.tensors.items():
            _write_string(out, name)
            out.write(struct.pack("<B", array.ndim))
            out.write(struct.pack(f"<{array.ndim}I", *array.shape))
            out.write(struct.pack("<BI", _TYPE_IDS[array.dtype], array.nbytes))
            out.write(np.ascontiguousarray(array).tobytes())
        out.write(struct.pack("<I", len(model.aliases)))
        for alias, target in model.aliases:
            _write_string(out, alias)
            _write_string(out, target)


def _write_string(out: BinaryIO, text: str) -> None:
    raw = text.encode("utf-8") + b"\0"
    out.write(struct.pack("<H", len(raw)))
    out.write(raw)
