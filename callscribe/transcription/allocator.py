"""Keep the C allocator from multiplying the engine's peak memory.

glibc gives every thread that allocates at the same time as another its own arena (up to
eight per core), and memory freed in one arena is not reused by another.  The engine's
threads — two decoding workers, the voice detector, the decode-ahead pool — each take
and free hundreds of megabytes in turn, so on six generated calls the peak resident size
was 1,240 MB with the default and 960 MB with two arenas, at the same speed
(docs/benchmarks.md).  ``MALLOC_ARENA_MAX`` in the environment, if set, wins.

Freed memory also stays in the arenas, resident, until glibc is asked to give it back:
after a batch of six calls the engine held 844 MB, and a call transcribed next then peaked
at 946 MB on top of it; handing free memory back after every batch kept the peak at 834 MB.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; False where the C
    library is not glibc or the administrator chose a value."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    done = bool(mallopt(M_ARENA_MAX, count))
    log.debug("malloc arenas limited to %d: %s", count, done)
    return done


def release_free_memory() -> None:
    """Give memory the engine has freed back to the system (glibc only; else nothing)."""
    malloc_trim = _glibc("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


@functools.cache
def _glibc(name: str) -> Any:
    """A glibc function of this process, or None where the C library has no such name."""
    return getattr(ctypes.CDLL(None), name, None)
