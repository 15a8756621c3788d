"""What both stores do when a worker acts on a claim: a transition for a claim that is
gone is ignored with a warning (the current holder owns the outcome)."""

from __future__ import annotations

import logging

from callscribe.store.base import Job

log = logging.getLogger(__name__)


def held_or_warn(held: bool, job: Job, action: str) -> bool:
    if not held:
        log.warning(
            "job %d (%s of call %d): %s ignored, the claim by %s (attempt %d) is gone: "
            "its lease expired and the job was taken again or finished",
            job.id, job.kind.value, job.call_id, action, job.worker, job.attempts,
        )  # fmt: skip
    return held


def check_call(job: Job, call_id: int) -> None:
    if call_id != job.call_id:
        raise ValueError(f"result for call {call_id} given to job {job.id} of call {job.call_id}")
