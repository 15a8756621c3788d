"""What C libraries print straight to the process's stderr becomes log records.

libsndfile decodes MP3 with libmpg123, which writes lines such as ``[src/libmpg123/
layer3.c:…] error: part2_3_length (2208) too large for available bit count`` to file
descriptor 2 for every slightly malformed frame of an otherwise good file: dozens of raw
lines in a terminal or the journal.  While :func:`native_stderr_to_log` is active, file
descriptor 2 is a pipe read by a thread: known codec chatter is logged at DEBUG, anything
else at WARNING (it may matter), and Python's own ``sys.stderr`` still reaches the real
stderr, so messages, progress bars and logging are not affected.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger("callscribe.native")

CODEC_CHATTER = re.compile(r"^\[src/libmpg123/|^\[?libmpg123|^Note: Illegal Audio-MPEG-Header")
_MAX_LINE = 1000


@dataclass(frozen=True, slots=True)
class _Redirect:
    real_stderr: int  # a duplicate of the original file descriptor 2
    python_stderr: TextIO
    reader: threading.Thread


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    redirect = _start()
    try:
        yield
    finally:
        if redirect is not None:
            _stop(redirect)


def native_stderr_to_log_for_good() -> None:
    """The same for the rest of the process's life (a decoder worker process)."""
    _start()


def _start() -> _Redirect | None:
    sys.stderr.flush()
    try:
        real_stderr = os.dup(2)
    except OSError:  # no stderr at all: nothing to catch
        return None
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    if _writes_to_fd_2(python_stderr):
        sys.stderr = open(  # noqa: SIM115 - closed by _stop, after the pipe is taken away
            real_stderr,
            "w",
            encoding=getattr(python_stderr, "encoding", None) or "utf-8",
            errors="backslashreplace",
            buffering=1,
            closefd=False,
        )
    reader = threading.Thread(target=_forward, args=(read_end,), name="native-stderr", daemon=True)
    reader.start()
    return _Redirect(real_stderr, python_stderr, reader)


def _stop(redirect: _Redirect) -> None:
    sys.stderr.flush()
    os.dup2(redirect.real_stderr, 2)  # the pipe's last writer is gone: the reader sees its end
    redirect.reader.join(timeout=5)
    if sys.stderr is not redirect.python_stderr:
        sys.stderr.close()
        sys.stderr = redirect.python_stderr
    os.close(redirect.real_stderr)


def _writes_to_fd_2(stream: TextIO) -> bool:
    """Whether Python's stderr is file descriptor 2 (not a test's or an embedder's
    replacement, which is left as it is)."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def _forward(read_end: int) -> None:
    with open(read_end, "rb") as pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "backslashreplace").rstrip()[:_MAX_LINE]
            if not line:
                continue
            level = logging.DEBUG if CODEC_CHATTER.search(line) else logging.WARNING
            log.log(level, "%s", line)
