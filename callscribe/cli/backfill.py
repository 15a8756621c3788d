"""``callscribe backfill --source NAME --since DATE``: bring past calls in from the vendor.

Works for every source whose connector can read its vendor's call history (the
``BackfillSource`` seam); the engine is ``callscribe/backfill.py``.  It writes to the
service's database and may run while the service does (each write is a short
transaction): the running service then fetches and transcribes what it queued; if the
service is stopped, the calls wait for its next start.  Progress goes to stderr (a bar on
a terminal, a line every 30 s otherwise: ``cli/progress.py``), the summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from callscribe.backfill import Backfill, Report, Tally
from callscribe.cli.progress import DAYS, Progress
from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.config.settings import Settings
from callscribe.connectors.base import BackfillSource
from callscribe.connectors.registry import SOURCES, build_source
from callscribe.errors import ConfigError
from callscribe.store import opening

FAILED = 1
INTERRUPTED = 130
MAX_DAYS = 366


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="bring in past calls from the vendor's call history",
        description=(
            "Read the calls of past days from the vendor's API and queue them like calls "
            "that came in live: a call callscribe already has stays one call. Days are "
            "counted in the source's time zone. Stopped (Ctrl+C) or failed, run the same "
            "command again: the days already finished are skipped. The running service "
            "fetches and transcribes what was queued; a stopped one does at its next start."
        ),
    )
    parser.add_argument("--source", required=True, metavar="NAME", help="the source to read")
    parser.add_argument("--since", required=True, type=_day, metavar="DATE", help="first day")
    parser.add_argument(
        "--until", type=_day, metavar="DATE", help="last day (default: today, as far as over)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be brought in; store nothing"
    )
    parser.add_argument(
        "--again", action="store_true", help="read again the days an earlier backfill finished"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress report (by default a bar on a terminal, a line every 30 s elsewhere)",
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"configuration file ({DEFAULT_CONFIG})"
    )
    parser.set_defaults(handler=run)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-20") from None


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    source = _source(settings, args.source)
    zone = _zone(source)
    days = _days(args.since, args.until, zone)
    report = Report()
    progress = _DayProgress(source.name, len(days), quiet=args.quiet)
    try:
        asyncio.run(
            _run(
                settings, source, zone=zone, days=days, report=report, progress=progress, args=args
            )
        )
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        progress.shown.close()
    _summary(source.name, days, zone, report, dry_run=args.dry_run)
    if report.interrupted:
        return INTERRUPTED
    return 0 if report.ok else FAILED


async def _run(
    settings: Settings,
    source: BackfillSource,
    *,
    zone: tzinfo,
    days: list[date],
    report: Report,
    progress: _DayProgress,
    args: argparse.Namespace,
) -> None:
    path = settings.daemon.database_path
    with tempfile.TemporaryDirectory(prefix="callscribe-dry-run-") as scratch:
        if args.dry_run and not settings.store.postgresql and not path.exists():
            # No database yet: every call would be new.
            settings = settings.model_copy(
                update={
                    "daemon": settings.daemon.model_copy(
                        update={"database": Path(scratch) / "empty.db"}
                    )
                }
            )
        store = await opening.open_async_store(settings)
        try:
            backfill = Backfill(
                source, store, settings.routes, zone, progress, report, args.dry_run
            )
            await backfill.run(days, again=args.again)
        finally:
            await store.aclose()


def _source(settings: Settings, name: str) -> BackfillSource:
    config = settings.sources.get(name)
    if config is None:
        known = ", ".join(sorted(settings.sources)) or "none"
        raise ConfigError(f"no source {name!r} in the configuration (sources: {known})")
    source = build_source(name, config)
    if not isinstance(source, BackfillSource):
        able = [kind for kind, entry in SOURCES.items() if hasattr(entry.build, "calls_on")]
        raise ConfigError(
            f"source {name!r} (type {config.type!r}) cannot read past calls; backfill works "
            f"for sources of type {', '.join(able) or 'none'}"
        )
    return source


def _zone(source: BackfillSource) -> tzinfo:
    """The source's time zone if it has one, else this machine's."""
    zone = getattr(source, "time_zone", None)
    if isinstance(zone, tzinfo):
        return zone
    return datetime.now().astimezone().tzinfo or UTC


def _days(since: date, until: date | None, zone: tzinfo) -> list[date]:
    today = datetime.now(zone).date()
    last = today if until is None else until
    if last > today:
        raise ConfigError(f"--until {last} is in the future (today is {today} in {zone})")
    if since > last:
        raise ConfigError(f"--since {since} is after --until {last}")
    count = (last - since).days + 1
    if count > MAX_DAYS:
        raise ConfigError(f"{count} days asked for; at most {MAX_DAYS} at a time")
    return [since + timedelta(days=n) for n in range(count)]


class _DayProgress:
    """The engine's progress reports on the shared progress display: days done of the
    days asked for (a day an earlier backfill finished leaves the total), the calls so far."""

    def __init__(self, source: str, days: int, *, quiet: bool) -> None:
        self.shown = Progress(f"backfill {source}", days, unit=DAYS, quiet=quiet)

    def day_skipped(self, day: date) -> None:
        self.shown.skip(1)

    def call_seen(self, calls: Tally) -> None:
        self.shown.note(_counts(calls))

    def day_ended(self, day: date, tally: Tally, failure: str | None) -> None:
        self.shown.advance(0 if failure else 1, items=0)


def _counts(calls: Tally) -> str:
    text = f"{calls.found} calls ({calls.new} new, {calls.known} already known"
    text += f", {calls.failed} failed)" if calls.failed else ")"
    return f"{text}, {calls.recordings} with a recording"


def _summary(source: str, days: list[date], zone: tzinfo, report: Report, *, dry_run: bool) -> None:
    calls = report.calls
    head = "dry run, nothing stored: " if dry_run else ""
    print(f"{head}backfill of {source}, {days[0]} to {days[-1]} (days in {zone})")
    failed_days = 1 if report.stopped_at else 0
    print(
        f"days:  {len(report.read)} read, {len(report.skipped)} finished by an earlier "
        f"backfill (skipped), {failed_days} failed"
    )
    new = "would be new" if dry_run else "new"
    print(
        f"calls: {calls.found} found: {calls.new} {new}, {calls.known} already known, "
        f"{calls.failed} failed; {calls.recordings} with a recording"
    )
    for failure in report.failures:
        print(f"failed: {failure}")
    if report.interrupted:
        print("interrupted: run the same command again to go on (finished days are skipped)")
    elif report.stopped_at is not None:
        print(f"stopped at {report.stopped_at}: run the same command again once fixed")
    if calls.new and not dry_run:
        print(
            "The running service fetches and transcribes the new calls; if it is not "
            "running, they wait for its next start."
        )
