"""Keep numpy's BLAS to one thread in the process that runs the engine.

Each model worker computes its windows' log-mel features with numpy, whose matrix products
go to the BLAS numpy was built with (OpenBLAS in the PyPI wheels).  OpenBLAS starts a thread
per core for them and keeps those threads spinning after every product, waiting for the
next one, on cores the model workers already fill: on the shared samples they took 9 % of
the process's CPU time, and the samples were recognised 9 % faster without them
(docs/benchmarks.md).  A worker's products are small, so one thread each loses nothing.
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``OMP_NUM_THREADS`` in the environment, if
set, win.
"""

from __future__ import annotations

import logging
import os

from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

ADMIN_SETTINGS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def limit_blas_threads() -> bool:
    """One BLAS thread per caller from now on; False where the administrator chose."""
    if any(name in os.environ for name in ADMIN_SETTINGS):
        return False
    threadpool_limits(limits=1, user_api="blas")
    log.debug("numpy's BLAS limited to one thread per caller")
    return True
