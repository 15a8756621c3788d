"""Read a call's recording out of Asterisk's spool, safely, into callscribe's folder.

Paths come from AMI, so they are hostile until checked: mapped through ``path_map``, then
opened only inside the configured folders (``ssrf.open_inside``: ``..`` and symlinks out
are refused, a swapped directory fails to open).  The files are semi-trusted audio: each
has a size cap, WAV headers are read by :mod:`callscribe.transcription.audio_header`'s
sniffer, and nothing is allocated from a declared length — samples are streamed in
blocks.  What comes out is one file the transcriber reads:

- leg files (``r()``/``t()``) → one stereo WAV, operator left, client right;
- ``D`` interleaved signed-linear → the same bytes behind a stereo WAV header;
- a mixed file → copied (hardlinked where possible), or given a header if headerless.

Everything here is blocking and runs in a worker thread.
"""

from __future__ import annotations

import os
import posixpath
import struct
from collections.abc import Callable, Collection, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callscribe.connectors.sources.asterisk.plan import RecordingPlan, slin_rate
from callscribe.connectors.spool import CHUNK, FetchedFile, Spool, open_checked
from callscribe.connectors.ssrf import redact_url
from callscribe.domain import Speaker
from callscribe.errors import AudioError, FetchError, located
from callscribe.transcription.audio_header import HEAD_BYTES, WAV_UNKNOWN_LENGTH, sniff

_FRAMES = 32 * 1024  # samples per block when two legs are interleaved


class NotComplete(FetchError):  # noqa: N818 - a state, not an accident
    """A file is missing or still being written: worth waiting for."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


def local_path(remote: str, path_map: Mapping[str, str]) -> Path:
    """Asterisk's path as this machine sees it: the longest mapped prefix is replaced."""
    path = posixpath.normpath(remote)
    best = ""
    for prefix in path_map:
        clean = posixpath.normpath(prefix)
        if (path == clean or path.startswith(clean.rstrip("/") + "/")) and len(clean) > len(best):
            best = clean
    if best:
        path = posixpath.normpath(path_map[best] + path[len(best) :])
    return Path(path)


@dataclass(frozen=True, slots=True)
class SpoolReader:
    roots: Collection[Path]
    path_map: Mapping[str, str]
    max_bytes: int

    def snapshot(self, plan: RecordingPlan) -> tuple[tuple[int, int], ...]:
        """(size, mtime) of every file of the plan; raises NotComplete if one is missing."""
        found = []
        for remote in plan.files:
            path = local_path(remote, self.path_map)
            try:
                info = path.stat()
            except FileNotFoundError:
                raise NotComplete(located("no such file (yet)", _shown(path))) from None
            except OSError as exc:
                raise FetchError(located(str(exc.strerror), _shown(path)), retryable=True) from None
            found.append((info.st_size, info.st_mtime_ns))
        return tuple(found)

    def copy(self, plan: RecordingPlan, dest_dir: Path) -> FetchedFile:
        """The recording, in ``dest_dir``, as one file in a format the transcriber reads."""
        with ExitStack() as files:
            opened = {
                remote: files.enter_context(_Opened.at(local_path(remote, self.path_map), self))
                for remote in plan.files
            }
            if plan.has_legs:
                legs = _pair(opened[plan.read or ""], opened[plan.write or ""], plan)
                if legs is not None:
                    return _combine(*legs, dest_dir, self.max_bytes)
            if plan.mixed is None:
                raise FetchError(
                    "the call's leg files cannot be combined and there is no mixed file",
                    retryable=False,
                )
            return _single(opened[plan.mixed], plan.interleaved, dest_dir, self.max_bytes)


@dataclass(slots=True)
class _Opened:
    """One spool file, open and checked; ``pcm`` describes its 16-bit samples, if any."""

    fd: int
    real: Path
    shown: str
    size: int
    pcm: tuple[int, int, int, int] | None  # rate, channels, data offset, data bytes

    @classmethod
    def at(cls, path: Path, reader: SpoolReader) -> _Opened:
        shown = _shown(path)
        fd, real, size = open_checked(path, reader.roots, reader.max_bytes)
        try:
            return cls(fd, real, shown, size, _pcm(fd, path.name, size, shown))
        except BaseException:
            os.close(fd)
            raise

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)

    @property
    def rate(self) -> int:
        return self.pcm[0] if self.pcm else 0

    @property
    def sample_bytes(self) -> int:
        return self.pcm[3] if self.pcm else 0

    @property
    def empty(self) -> bool:
        return self.size == 0 or (self.pcm is not None and self.pcm[3] == 0)

    def samples(self, size: int) -> Callable[[], bytes]:
        """A reader of the sample bytes, ``size`` at a time (b"" at the end)."""
        if self.pcm is None:
            raise FetchError(located("not 16-bit PCM", self.shown), retryable=False)
        return self.blocks(size, self.pcm[2], self.pcm[2] + self.pcm[3])

    def blocks(self, size: int, offset: int, end: int) -> Callable[[], bytes]:
        """A reader of the bytes from ``offset`` to ``end``, ``size`` at a time."""

        def read() -> bytes:
            nonlocal offset
            chunk = os.pread(self.fd, min(size, end - offset), offset) if offset < end else b""
            offset += len(chunk)
            return chunk

        return read


def _pcm(fd: int, name: str, size: int, shown: str) -> tuple[int, int, int, int] | None:
    """Rate, channels, offset and length of 16-bit samples, or None for other formats."""
    rate = slin_rate(name)
    if rate is not None:
        return (rate, 1, 0, size - size % 2)
    head = os.pread(fd, min(size, HEAD_BYTES), 0)
    try:
        wav = sniff(head, shown).wav
    except AudioError as exc:
        raise FetchError(str(exc), retryable=False) from None
    if wav is None or wav.data is None:
        return None
    offset, declared = wav.data
    if wav.byte_rate != wav.sample_rate * wav.channels * 2:
        return None  # GSM, µ-law, float...: not samples this module can splice
    available = max(0, size - offset)
    length = available if declared in (0, WAV_UNKNOWN_LENGTH) else min(declared, available)
    return (wav.sample_rate, wav.channels, offset, length - length % (2 * wav.channels))


def _pair(read: _Opened, write: _Opened, plan: RecordingPlan) -> tuple[_Opened, _Opened] | None:
    """(operator, client) legs, or None when they cannot be spliced (then the mixed file)."""
    for leg in (read, write):
        if leg.pcm is None or leg.pcm[1] != 1:
            return None
    if read.empty and write.empty:
        raise FetchError(
            located(
                "the leg files hold no audio (header only): nothing was recorded",
                f"{read.shown} + {write.shown}",
            ),
            retryable=False,
        )
    if read.pcm and write.pcm and read.pcm[0] != write.pcm[0]:
        return None
    return (read, write) if plan.recorded_side is Speaker.OPERATOR else (write, read)


def _combine(operator: _Opened, client: _Opened, dest_dir: Path, max_bytes: int) -> FetchedFile:
    rate = operator.rate
    frames = max(operator.sample_bytes, client.sample_bytes) // 2
    left, right = operator.samples(2 * _FRAMES), client.samples(2 * _FRAMES)
    where = f"{operator.shown} + {client.shown}"
    with Spool(dest_dir, max_bytes, where, None) as spool:
        spool.add(wav_header(rate, 2, frames * 4))
        for _ in range(0, frames, _FRAMES):
            a, b = _samples(left()), _samples(right())
            block = np.zeros((max(len(a), len(b)), 2), dtype="<i2")
            block[: len(a), 0], block[: len(b), 1] = a, b
            spool.add(block.tobytes())
        return spool.keep("stereo.wav", None)


def _single(file: _Opened, interleaved: bool, dest_dir: Path, max_bytes: int) -> FetchedFile:
    if file.empty:
        raise FetchError(
            located("the file holds no audio (header only): nothing was recorded", file.shown),
            retryable=False,
        )
    rate = slin_rate(file.real.name)
    if interleaved and rate is None:
        raise FetchError(
            located(
                "MixMonitor's D option needs a headerless file name (.raw, .sln, .sln16): "
                "Asterisk writes its interleaved stereo with a mono header otherwise",
                file.shown,
            ),
            retryable=False,
        )
    link = None if rate else (file.fd, file.real)  # a file kept as it is may be hardlinked
    with Spool(dest_dir, max_bytes, file.shown, link) as spool:
        length = file.size
        if rate is not None:
            channels = 2 if interleaved else 1
            length -= length % (2 * channels)
            spool.add(wav_header(rate, channels, length))
        read = file.blocks(16 * CHUNK, 0, length)
        while chunk := read():
            spool.add(chunk)
        return spool.keep("recording.wav" if rate else file.real.name, None)


def _samples(chunk: bytes) -> np.ndarray:
    return np.frombuffer(chunk[: len(chunk) - len(chunk) % 2], dtype="<i2")


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """A canonical 44-byte PCM 16-bit WAV header."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _shown(path: Path) -> str:
    return redact_url(str(path))
