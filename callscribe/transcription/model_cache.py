"""Build and check model directories in callscribe's model cache.

A model directory appears in the cache only whole.  It is built in a temporary directory
beside its final place (same filesystem, so the rename is atomic), every file is checked
against its pinned size and sha256, and only then is it renamed into place.  A lock file per
model keeps two processes that start at once from both copying 145 MB: the second waits, then
finds the first one's verified result and uses it.

Checking 145 MB of sha256 on every start would cost a fraction of a second each time, so a
finished directory carries a stamp of each file's size and mtime taken right after the full
check.  A later load that finds the same sizes and mtimes trusts the directory; anything else
(a truncated file, a file someone edited, a missing stamp) triggers the full check again, and
a rebuild if that fails.  Bit rot that leaves mtime alone is what ``callscribe model verify``
is for.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from callscribe.errors import ModelError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
STAMP = ".callscribe-verified.json"
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}

Copier = Callable[[Sequence[Path], Path], None]
"""Writes the concatenation of the source files to a new file (the seam for tests)."""


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file of a model as it must be, byte for byte."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What one file of a model directory looked like when checked."""

    name: str
    expected_size: int
    expected_sha256: str
    size: int | None  # None: the file is missing
    sha256: str | None  # None: not hashed, because the file is missing or has the wrong size

    @property
    def ok(self) -> bool:
        return self.size == self.expected_size and self.sha256 == self.expected_sha256

    @property
    def problem(self) -> str:
        """The trouble in plain words, or an empty string when the file is fine."""
        if self.size is None:
            return "missing"
        if self.size != self.expected_size:
            return f"size is {self.size:,} bytes, expected {self.expected_size:,}"
        if self.sha256 != self.expected_sha256:
            return f"sha256 is {self.sha256}, expected {self.expected_sha256}"
        return ""


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(directory: Path, specs: Sequence[FileSpec]) -> tuple[FileCheck, ...]:
    """Check every file's size and, when the size is right, its sha256."""
    checks = []
    for spec in specs:
        path = directory / spec.name
        size = path.stat().st_size if path.is_file() else None
        digest = sha256_file(path) if size == spec.size else None
        checks.append(FileCheck(spec.name, spec.size, spec.sha256, size, digest))
    return tuple(checks)


def sizes_match(directory: Path, specs: Sequence[FileSpec]) -> bool:
    """Cheap check: every file is there with its pinned size."""
    return all(
        (directory / s.name).is_file() and (directory / s.name).stat().st_size == s.size
        for s in specs
    )


def concatenate(sources: Sequence[Path], dest: Path) -> None:
    """Write the sources one after another into ``dest`` and flush it to disk."""
    with dest.open("xb") as out:
        for source in sources:
            with source.open("rb") as f:
                shutil.copyfileobj(f, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def ensure(
    cache_dir: Path,
    name: str,
    specs: Sequence[FileSpec],
    find_sources: Callable[[], Mapping[str, Sequence[Path]]],
    *,
    fix: str,
    full: bool = False,
    copy: Copier = concatenate,
) -> Path:
    """Return ``cache_dir/name`` holding exactly ``specs``, building it if it is not.

    ``find_sources`` maps each file name to the files whose concatenation it is; it is only
    called when a build is needed, so a verified cache keeps working if a package goes away.
    ``full`` forces the sha256 check even when the stamp matches.  ``fix`` is the sentence
    that tells the admin how to get the right sources when they do not match.
    """
    target = cache_dir / name
    if not full and _stamp_matches(target, specs):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(cache_dir / f".{name}.lock"):
            if not full and _stamp_matches(target, specs):
                return target  # another process built it while we waited for the lock
            if target.exists():
                bad = [c for c in check_files(target, specs) if not c.ok]
                if not bad:
                    with contextlib.suppress(OSError):  # a read-only cache is fine as it is
                        _write_stamp(target, specs)
                    return target
                log.warning(
                    "The cached %s model in %s is damaged (%s); rebuilding it.",
                    name,
                    target,
                    "; ".join(f"{c.name}: {c.problem}" for c in bad),
                )
            return _build(cache_dir, name, specs, find_sources(), fix=fix, copy=copy)
    except OSError as exc:
        raise _explain(exc, cache_dir, name, specs) from exc


def _build(
    cache_dir: Path,
    name: str,
    specs: Sequence[FileSpec],
    sources: Mapping[str, Sequence[Path]],
    *,
    fix: str,
    copy: Copier,
) -> Path:
    # Only lock holders build, so whatever a killed process left behind is garbage now.
    for stale in [*cache_dir.glob(f".{name}.tmp-*"), *cache_dir.glob(f".{name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    for spec in specs:  # sizes first: a wrong package is caught before copying 145 MB
        size = sum(p.stat().st_size for p in sources[spec.name])
        if size != spec.size:
            check = FileCheck(spec.name, spec.size, spec.sha256, size, None)
            raise _mismatch(check, sources[spec.name], fix)
    needed = sum(s.size for s in specs)
    if shutil.disk_usage(cache_dir).free < needed:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    log.info("Setting up the %s model in %s (%.0f MB).", name, cache_dir, needed / 10**6)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_dir))
    try:
        for spec in specs:
            copy(sources[spec.name], tmp / spec.name)
        # Checked after copying, independent of how the copy was done.
        for check in check_files(tmp, specs):
            if not check.ok:
                raise _mismatch(check, sources[check.name], fix)
        _write_stamp(tmp, specs)
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the model from a service's own user
        _fsync(tmp)
        _move_into_place(tmp, cache_dir / name, specs)
        _fsync(cache_dir)  # make the rename itself survive a power cut
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful rename
    return cache_dir / name


def _move_into_place(tmp: Path, target: Path, specs: Sequence[FileSpec]) -> None:
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
    try:
        tmp.rename(target)
    except OSError as exc:
        # Someone who does not take our lock (another host on NFS) got there first: use theirs
        # if it is right, ours is discarded by the caller.
        if exc.errno not in {errno.ENOTEMPTY, errno.EEXIST} or not all(
            c.ok for c in check_files(target, specs)
        ):
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        # A read-only cache another user prepared is still usable: flock needs no write access.
        if exc.errno not in _NOT_WRITABLE or not path.exists():
            raise
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _stamp_matches(directory: Path, specs: Sequence[FileSpec]) -> bool:
    try:
        stamp = json.loads((directory / STAMP).read_text(encoding="utf-8"))
        return all(stamp.get(s.name) == _fingerprint(directory / s.name, s) for s in specs)
    except (OSError, ValueError, AttributeError):
        return False


def _fingerprint(path: Path, spec: FileSpec) -> list[object]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, spec.sha256]


def _write_stamp(directory: Path, specs: Sequence[FileSpec]) -> None:
    stamp = {s.name: _fingerprint(directory / s.name, s) for s in specs}
    tmp = directory / f"{STAMP}.tmp"
    tmp.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    tmp.replace(directory / STAMP)


def _fsync(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mismatch(check: FileCheck, sources: Sequence[Path], fix: str) -> ModelError:
    origin = " + ".join(str(p) for p in sources)
    return ModelError(
        f"{check.name} (from {origin}) is not the pinned file: its {check.problem}. "
        f"The installed package is not the one callscribe was released with, so callscribe "
        f"refuses to use it. {fix}"
    )


def _explain(exc: OSError, cache_dir: Path, name: str, specs: Sequence[FileSpec]) -> ModelError:
    if exc.errno in _NO_SPACE:
        needed = sum(s.size for s in specs)
        return ModelError(
            f"Not enough disk space in {cache_dir} to set up the {name} model: it needs "
            f"{needed / 10**6:.0f} MB ({needed:,} bytes){_free(cache_dir)}. Free some space "
            f"there, or choose another directory with --model-dir DIR or CALLSCRIBE_MODEL_DIR."
        )
    if exc.errno in _NOT_WRITABLE and not _is_source(exc, cache_dir):
        return ModelError(
            f"Cannot write to the model directory {cache_dir} ({exc.strerror}). Make it "
            f"writable for this user, or choose another directory with --model-dir DIR "
            f"or the CALLSCRIBE_MODEL_DIR environment variable."
        )
    return ModelError(f"Could not set up the {name} model in {cache_dir}: {exc}")


def _is_source(exc: OSError, cache_dir: Path) -> bool:
    # Reading a package file can fail too; that is not the cache directory's fault.
    if exc.filename is None:
        return False
    path = Path(exc.filename)
    return not (path.is_relative_to(cache_dir) or cache_dir.is_relative_to(path))


def _free(cache_dir: Path) -> str:
    try:
        return f" and only {shutil.disk_usage(cache_dir).free / 10**6:.0f} MB is free"
    except OSError:
        return ""
