"""Bring past calls in from a vendor's call history: the engine of ``callscribe backfill``.

Any :class:`~callscribe.connectors.base.BackfillSource` works: for each day it lists the
calls as the live notifications would have reported them, and each goes through
``Store.ingest`` like a live one, so a call seen both ways (or read twice) is one call.
A day is recorded as finished (``Store.finish_backfill_day``) once all of its calls are
stored and it is over in the source's time zone (an hour of grace: the vendor may still
be processing its last calls), so a backfill stopped by Ctrl-C, a crash or a refusal
resumes after the days it finished; the day it was in is read again, and the calls it had
already stored count as already known.  The first day the vendor refuses stops the run:
going on would only repeat the refusal (and Mango blocks an account that insists).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from callscribe.config.routes import Route, sinks_at_ingest
from callscribe.connectors.base import BackfillSource
from callscribe.errors import CallscribeError
from callscribe.store.async_api import AsyncStoreApi

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)


@dataclass
class Tally:
    found: int = 0
    new: int = 0
    known: int = 0
    recordings: int = 0
    failed: int = 0

    def count(self, *, created: bool | None, recorded: bool) -> None:
        """One call: stored now (True), known before (False), or failed (None)."""
        self.found += 1
        self.recordings += recorded
        self.new += created is True
        self.known += created is False
        self.failed += created is None


@dataclass
class Report:
    """What a backfill did; filled in as it goes, so an interrupted one still tells."""

    skipped: list[date] = field(default_factory=list)  # finished by an earlier backfill
    read: list[date] = field(default_factory=list)  # read to the end by this one
    calls: Tally = field(default_factory=Tally)  # counted call by call
    failures: list[str] = field(default_factory=list)  # reasons, each naming its day
    stopped_at: date | None = None  # the day the vendor refused
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted


class Progress(Protocol):
    def day_skipped(self, day: date) -> None: ...
    def call_seen(self, calls: Tally) -> None: ...
    def day_ended(self, day: date, tally: Tally, failure: str | None) -> None: ...


def day_over(day: date, zone: tzinfo, now: datetime) -> bool:
    """Whether ``day`` (in ``zone``) ended more than :data:`GRACE` before ``now``."""
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return now >= end + GRACE


@dataclass(frozen=True, slots=True)
class Backfill:
    """One backfill of one source into the store; ``report`` is filled in as it goes."""

    source: BackfillSource
    store: AsyncStoreApi
    routes: tuple[Route, ...]
    zone: tzinfo
    progress: Progress
    report: Report = field(default_factory=Report)
    dry_run: bool = False

    async def run(self, days: Sequence[date], *, again: bool = False) -> Report:
        """Read ``days``, skipping those an earlier backfill finished unless ``again``."""
        name = self.source.name
        done = set() if again else await self.store.backfilled_days(name)
        for day in days:
            if day in done:
                self.report.skipped.append(day)
                self.progress.day_skipped(day)
                continue
            tally = Tally()
            try:
                await self._read(day, tally)
            except CallscribeError as exc:
                failure = f"{day}: {exc}"
                self.report.failures.append(failure)
                self.report.stopped_at = day
                self.progress.day_ended(day, tally, failure)
                break
            self.report.read.append(day)
            self.progress.day_ended(day, tally, None)
            if not self.dry_run and day_over(day, self.zone, datetime.now(self.zone)):
                await self.store.finish_backfill_day(name, day, tally.found, tally.new)
        return self.report

    async def _read(self, day: date, tally: Tally) -> None:
        async for event in self.source.calls_on(day):
            if event.source != self.source.name:
                raise CallscribeError(f"the source gave a call of source {event.source!r}")
            created: bool | None
            if self.dry_run:
                known = await self.store.known_calls(event.source, [event.external_id])
                created = not known
            else:
                try:
                    sinks = sinks_at_ingest(self.routes, event)
                    created = (await self.store.ingest(event, sinks)).created
                except (TypeError, ValueError) as exc:  # this event cannot be stored as it is
                    created = None
                    self.report.failures.append(f"{day}: call {event.external_id[:60]}: {exc}")
            for counts in (tally, self.report.calls):
                counts.count(created=created, recorded=bool(event.recordings))
            self.progress.call_seen(self.report.calls)
