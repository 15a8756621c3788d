"""A daemon whose webhook port is taken says so and exits, rather than running deaf (and
deaf to SIGTERM) — as a test node did when another process won the port before it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_a_taken_port_ends_the_daemon_with_the_reason(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "callscribe.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{tmp_path / "state"}"\nlisten = "127.0.0.1:{port}"\n'
            '[node]\nroles = ["intake"]\n'
            f'[sources.hook]\ntype = "generic"\ntoken = "t0ken-for-the-test-1234"\n'
            f'[sinks.archive]\ntype = "jsonl"\npath = "{tmp_path / "out.jsonl"}"\n'
            '[[routes]]\nsources = ["hook"]\nsinks = ["archive"]\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "callscribe", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"callscribe: [daemon] listen = '127.0.0.1:{port}': cannot listen")
    assert "address already in use" in done.stderr
    assert "Traceback" not in done.stderr
