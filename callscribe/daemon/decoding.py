"""Decode untrusted recordings in a separate, limited process.

A recording comes from a webhook URL or a shared folder; a codec bug triggered by a
crafted file must cost that file, not the daemon (reliability requirement R-AUD-1).  The
decoder runs in a small pool of worker processes with an address-space limit; a worker
that crashes or hangs past the time limit is killed and the pool rebuilt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from callscribe.domain import Speaker
from callscribe.errors import AudioError, DecoderCrashError, located
from callscribe.logsetup import configure_logging
from callscribe.native_stderr import native_stderr_to_log_for_good
from callscribe.transcription.audio import AudioLimits, CallAudio, decode_file

log = logging.getLogger(__name__)

T = TypeVar("T")

ADDRESS_SPACE_LIMIT = 4 << 30  # decoded audio of a 4-hour stereo call is ~1.8 GB
# Files are bounded by AudioLimits before decoding (a 4-hour call decodes in well under a
# minute), so this only stops a decoder stuck in a loop.
TIME_LIMIT_SECONDS = 600.0


# How often a decoder process checks that the daemon that started it is still there.
ORPHAN_CHECK_SECONDS = 1.0


def _limit_worker(daemon_pid: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    threading.Thread(
        target=_exit_when_orphaned, args=(daemon_pid,), name="orphan-check", daemon=True
    ).start()
    # A spawned process starts with no logging: codec chatter on stderr would reach the
    # journal as raw lines without a priority.
    configure_logging(default=logging.WARNING)
    native_stderr_to_log_for_good()


def _exit_when_orphaned(daemon_pid: int) -> None:
    """A daemon killed with kill -9 (or by the OOM killer) cannot stop its pool, and a
    spawned worker holds both ends of its task queue, so it would wait for work forever:
    hundreds of them, 40 MB each, were found after crash tests.  Reparented, it leaves."""
    while os.getppid() == daemon_pid:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _started() -> None:
    """Nothing: importing this module in the worker is the work."""


def _decode(path: str, channels: tuple[Speaker, Speaker], limits: AudioLimits) -> CallAudio:
    return decode_file(Path(path), channels=channels, limits=limits)


class DecoderPool:
    def __init__(self, workers: int = 1, *, time_limit: float = TIME_LIMIT_SECONDS) -> None:
        self._workers = workers
        self._time_limit = time_limit
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # "spawn": the daemon runs threads (model, SQLite); forking them is unsafe.
        return concurrent.futures.ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_limit_worker,
            initargs=(os.getpid(),),
        )

    def warm(self) -> None:
        """Start the worker processes now: a fresh one spends half a second importing the
        codecs, which would otherwise delay the first call after a start."""
        for _ in range(self._workers):
            self._pool.submit(_started)

    async def decode(
        self, path: Path, channels: tuple[Speaker, Speaker], limits: AudioLimits
    ) -> CallAudio:
        return await self.run(path.name, _decode, str(path), channels, limits)

    async def run(self, name: str, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on untrusted audio in a decoder process, under its limits;
        ``name`` (the file's) is what errors speak of.  AudioError passes through; a
        crash or a hang is a DecoderCrashError and the processes are replaced."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, work, *args)
        try:
            return await asyncio.wait_for(future, self._time_limit)
        except AudioError:
            raise
        except TimeoutError:
            self._restart(f"decoding {name} took longer than {self._time_limit:.0f} s")
            raise DecoderCrashError(
                located(f"decoding did not finish within {self._time_limit:.0f} s", name)
            ) from None
        except (BrokenProcessPool, MemoryError) as exc:
            self._restart(f"the decoder process died on {name}")
            raise DecoderCrashError(
                located(f"the decoder crashed on this file ({type(exc).__name__})", name)
            ) from None

    def _restart(self, why: str) -> None:
        log.warning("%s; restarting the decoder processes", why)
        old = self._pool
        for process in list(getattr(old, "_processes", {}).values()):
            process.kill()  # a hung decoder ignores polite requests
        old.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
