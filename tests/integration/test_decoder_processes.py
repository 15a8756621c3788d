"""Decoder processes do not outlive the daemon that started them, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from callscribe.testing import wait_for

# A daemon's decoder pool, warmed; prints its workers' pids, then waits to be killed.
DAEMON = textwrap.dedent(
    """
    import time
    from callscribe.daemon.decoding import DecoderPool

    pool = DecoderPool(workers=2)
    pool.warm()
    while len(pool._pool._processes) < 2:
        time.sleep(0.05)
    print(" ".join(str(pid) for pid in pool._pool._processes), flush=True)
    time.sleep(600)
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) until its new parent reaps it: it holds no memory.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_decoder_processes_leave_when_the_daemon_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", DAEMON], stdout=subprocess.PIPE, text=True
    ) as daemon:
        assert daemon.stdout is not None
        workers = [int(pid) for pid in daemon.stdout.readline().split()]
        assert len(workers) == 2
        assert all(alive(pid) for pid in workers)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in workers), 30, "orphaned decoders to exit")
