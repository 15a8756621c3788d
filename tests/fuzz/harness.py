"""What every fuzz test shares: the example budget, and the bounds each example must keep.

The budget: ``CALLSCRIBE_FUZZ_EXAMPLES`` examples per test (200 by default, what CI runs;
the long run by hand sets e.g. 20000, see docs/reliability.md).  ``checked`` runs one
example's parser call and holds it to the promise every parser of outside input makes:

- it raises nothing but the error types its contract documents (the caller lists them),
  and those say what is wrong (a message);
- it spends at most ``CPU_SECONDS`` of CPU time (process time: a loaded shared machine
  does not make it fail, a parser that loops does);
- it allocates at most ``PEAK_BYTES`` at its peak (tracemalloc, started for the test).

Each call counts one example under the parser's name; the session prints the counts
(``conftest.py``), which is where docs/reliability.md's figures come from.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

T = TypeVar("T")

EXAMPLES = int(os.environ.get("CALLSCRIBE_FUZZ_EXAMPLES", "200"))
CPU_SECONDS = 2.0
PEAK_BYTES = 64 << 20

COUNTS: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()  # examples that ended in a documented error

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # wall time on a shared machine says little; CPU time is checked instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


class Refused(Exception):  # noqa: N818 - reads as what happened
    """The parser raised one of its documented errors (kept in ``error``)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def checked(
    parser: str,
    call: Callable[..., T],
    *args: Any,
    allowed: tuple[type[BaseException], ...] = (),
    **kwargs: Any,
) -> T:
    """``call(*args, **kwargs)`` held to the bounds; raises :class:`Refused` wrapping an
    ``allowed`` error, lets any other exception fail the test."""
    COUNTS[parser] += 1
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    cpu = time.process_time()
    try:
        return call(*args, **kwargs)
    except allowed as error:
        REFUSED[parser] += 1
        message = str(error)
        assert message.strip(), f"{parser}: a refusal must say what is wrong"
        raise Refused(error) from error
    finally:
        spent = time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] - base
        if started_tracing:
            tracemalloc.stop()
        assert spent <= CPU_SECONDS, f"{parser}: {spent:.2f} s of CPU for one example"
        assert peak <= PEAK_BYTES, f"{parser}: {peak / 2**20:.1f} MiB at its peak"
