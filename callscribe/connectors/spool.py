"""Write a recording into callscribe's state folder: counted, hashed, limited, atomic.

A download or a copy goes to a temporary ``.part`` file that becomes the recording only
when complete and within the size limit, and disappears on any failure; a copy from an
allowed local folder is a hardlink when the file system allows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Collection
from dataclasses import dataclass
from io import BufferedWriter
from pathlib import Path

from callscribe.connectors.ssrf import RefusedError, local_path, open_inside, redact_url
from callscribe.errors import FetchError, located

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_SUFFIXES = frozenset({".mp3", ".wav", ".ogg", ".opus", ".flac", ".m4a", ".gsm", ".webm"})
_TYPE_SUFFIX = {"audio/mpeg": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav"}


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A complete recording in ``dest_dir``; treat it as read-only (it may be a hardlink)."""

    path: Path
    size: int
    sha256: str
    content_type: str | None


class Spool:
    """A temp file in ``dest_dir`` that becomes the recording or disappears.

    Counts and hashes every chunk, refusing past ``max_bytes``.  With ``link`` (an open
    file and its checked path) the temp file is a hardlink to it when possible, and
    chunks are only counted and hashed.
    """

    def __init__(
        self, dest_dir: Path, max_bytes: int, where: str, link: tuple[int, Path] | None
    ) -> None:
        self._dir, self._max, self._where = dest_dir, max_bytes, where
        self._tmp = dest_dir / f".callscribe-{secrets.token_hex(8)}.part"
        dest_dir.mkdir(parents=True, exist_ok=True)
        self._digest, self.size = hashlib.sha256(), 0
        self._out: BufferedWriter | None = None
        if link is None or not _hardlink(*link, self._tmp):
            self._out = self._tmp.open("xb")

    def __enter__(self) -> Spool:
        return self

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            raise RefusedError(f"the recording is over the {self._max} byte limit", url=self._where)
        self._digest.update(chunk)
        if self._out is not None:
            self._out.write(chunk)  # small synchronous writes never block the loop for long

    def keep(self, name: str, content_type: str | None) -> FetchedFile:
        if self._out is not None:
            self._out.close()
        suffix = Path(name).suffix.lower()
        if suffix not in _SUFFIXES:
            suffix = _TYPE_SUFFIX.get(content_type or "", "")
        final = self._dir / f"recording-{secrets.token_hex(8)}{suffix}"
        self._tmp.replace(final)
        log.info("fetched %s (%d bytes)", self._where, self.size)
        return FetchedFile(final, self.size, self._digest.hexdigest(), content_type)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:  # includes cancellation by the total timeout
            if self._out is not None:
                self._out.close()
            self._tmp.unlink(missing_ok=True)


def _hardlink(fd: int, path: Path, target: Path) -> bool:
    """Hardlink ``path`` as ``target`` if it still is the very file open as ``fd``."""
    try:
        os.link(path, target, follow_symlinks=False)
    except OSError:  # another filesystem, fs.protected_hardlinks: copy instead
        return False
    if os.path.samestat(os.fstat(fd), target.lstat()):
        return True
    target.unlink()  # the name was swapped after it was checked and opened
    return False


def open_checked(path: Path, local_dirs: Collection[Path], max_bytes: int) -> tuple[int, Path, int]:
    """Open a spool file inside ``local_dirs``: (fd, real path, size).  A missing file is
    retryable (not written yet); anything else that is not a regular file within
    ``max_bytes`` is refused.  The caller closes the fd."""
    shown = redact_url(str(path))  # escaped: a file name can hold a line break
    try:
        fd, real = open_inside(path, local_dirs)
    except FileNotFoundError:
        raise FetchError(located("no such file (yet)", shown), retryable=True) from None
    except OSError as exc:
        reason = located(f"cannot open the file ({exc.strerror})", shown)
        raise FetchError(reason, retryable=False) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedError("not a regular file", url=shown)
        if info.st_size > max_bytes:
            raise RefusedError(f"{info.st_size} bytes, over the limit", url=shown)
    except BaseException:
        os.close(fd)
        raise
    return fd, real, info.st_size


def copy_local(
    location: str, local_dirs: Collection[Path], max_bytes: int, dest_dir: Path
) -> FetchedFile:
    """Copy, or hardlink, a spool file into ``dest_dir``; runs in a thread."""
    path = local_path(location)
    fd, real, _ = open_checked(path, local_dirs, max_bytes)
    try:
        with Spool(dest_dir, max_bytes, redact_url(str(path)), (fd, real)) as spool:
            while chunk := os.read(fd, 16 * CHUNK):
                spool.add(chunk)
            return spool.keep(path.name, None)
    finally:
        os.close(fd)
