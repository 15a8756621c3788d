"""A private PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` in a
temporary folder, listening on a free port of 127.0.0.1 (and a socket in that folder).

It uses the server binaries Debian's ``postgresql`` package installs
(``/usr/lib/postgresql/<version>/bin``) or ``initdb`` on the PATH.  PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` user the package creates.
The superuser is ``callscribe`` with a password (scram-sha-256 over TCP), so the tests go
through the same authentication a real deployment does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from callscribe.testing import free_port

USER = "callscribe"
SERVER_USER = "postgres"  # Debian's package creates it; used when we run as root


class ClusterUnavailableError(RuntimeError):
    """The server cannot be started here; the message says why and what to install."""


def server_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest version first)."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if debian:
        return debian[0].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ClusterUnavailableError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed; "
        "install them with: sudo apt-get install postgresql"
    )


@dataclass
class PostgresCluster:
    """A running server; :meth:`database` makes an empty database and returns its URL."""

    folder: Path
    port: int
    password: str
    bin_dir: Path
    run_as: str | None
    durable: bool
    _count: int = 0

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresCluster:
        """Start a server; ``durable=False`` turns fsync off, for tests only (the
        benchmarks measure a server that syncs its WAL, as production does)."""
        bin_dir = server_binaries()
        run_as = SERVER_USER if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix="callscribe-pg-"))
        password = secrets.token_urlsafe(16)
        try:
            if run_as is not None:
                try:
                    owner = pwd.getpwnam(run_as)
                except KeyError:
                    raise ClusterUnavailableError(
                        f"running as root, and there is no {run_as!r} user to run the "
                        "server as (Debian's postgresql package creates it)"
                    ) from None
                os.chown(folder, owner.pw_uid, owner.pw_gid)
            (folder / "password").write_text(password)
            if run_as is not None:
                os.chown(folder / "password", owner.pw_uid, owner.pw_gid)
            cluster = cls(folder, free_port(), password, bin_dir, run_as, durable)
            cluster._init()
            cluster._start(durable)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cluster

    def _run(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - the server's own programs
            args, user=self.run_as, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterUnavailableError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-1500:]} {tail}"
            )

    def _init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata", str(self.folder / "data"),
            "--username", USER,
            "--pwfile", str(self.folder / "password"),
            "--auth-host", "scram-sha-256",
            "--auth-local", "trust",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
        )  # fmt: skip

    def _start(self, durable: bool) -> None:
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.folder}",
            "-c max_connections=300",
            "-c shared_buffers=64MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata", str(self.folder / "data"),
            "--log", str(self.folder / "server.log"),
            "--wait", "--timeout", "60",
            "--options", " ".join(options),
            "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        """The URL without the password (given apart, as ``[store] password`` is)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The URL with the password, for tools that take one string."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "test") -> str:
        """A new empty database; returns its URL (without the password)."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name made here, not given
        return self.url(name)

    def stop_server(self) -> None:
        """Stop the server, keeping its files (an outage); :meth:`start_server` again."""
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata", str(self.folder / "data"),
            "--mode", "immediate",
            "stop",
        )  # fmt: skip

    def start_server(self) -> None:
        self._start(self.durable)

    def stop(self) -> None:
        with contextlib.suppress(ClusterUnavailableError, subprocess.TimeoutExpired):
            self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)
