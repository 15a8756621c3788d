"""numpy's BLAS kept to one thread in the engine's process, and the administrator's say."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from callscribe.transcription.blas_threads import ADMIN_SETTINGS, limit_blas_threads


@pytest.fixture
def blas() -> Iterator[ThreadpoolController]:
    np.ones((64, 64)) @ np.ones((64, 64))  # numpy's BLAS is loaded and has run
    controller = ThreadpoolController()
    before = {
        pool.filepath: pool.num_threads
        for pool in controller.select(user_api="blas").lib_controllers
    }
    yield controller
    for pool in controller.select(user_api="blas").lib_controllers:
        pool.set_num_threads(before[pool.filepath])


def test_blas_runs_one_thread_after_the_limit(
    blas: ThreadpoolController, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ADMIN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for pool in blas.select(user_api="blas").lib_controllers:
        pool.set_num_threads(2)  # as on a machine with two cores, so the check can fail
    assert limit_blas_threads() is True
    pools = ThreadpoolController().select(user_api="blas").lib_controllers
    assert pools, "numpy's BLAS was not found"
    assert all(pool.num_threads == 1 for pool in pools)


def test_an_administrators_setting_is_left_alone(
    blas: ThreadpoolController, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = [
        pool.num_threads for pool in ThreadpoolController().select(user_api="blas").lib_controllers
    ]
    assert limit_blas_threads() is False
    after = [
        pool.num_threads for pool in ThreadpoolController().select(user_api="blas").lib_controllers
    ]
    assert after == before
