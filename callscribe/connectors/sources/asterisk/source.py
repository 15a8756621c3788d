"""The ``asterisk`` source: AMI events in, finished calls out, recordings read from the
spool.  See the package docstring for the parts, docs/sources/asterisk.md for the admin."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callscribe.connectors.base import Emit, SourceStatus
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources.asterisk import recovery
from callscribe.connectors.sources.asterisk.calls import CallAssembler, OpenCall, Settings
from callscribe.connectors.sources.asterisk.config import AsteriskSourceConfig
from callscribe.connectors.sources.asterisk.direction import DirectionRules
from callscribe.connectors.sources.asterisk.files import NotComplete, SpoolReader
from callscribe.connectors.sources.asterisk.link import AmiLink, LinkState
from callscribe.connectors.sources.asterisk.plan import RecordingPlan, from_files, uniqueid_in
from callscribe.connectors.sources.asterisk.report import call_event
from callscribe.connectors.spool import FetchedFile
from callscribe.domain import Call, CallEvent
from callscribe.errors import CallscribeError, FetchError

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5  # how often ended calls are looked for
GAP_MARGIN_SECONDS = 60.0  # the gap starts this long before the old session last spoke
ATTEMPT_WAIT_SECONDS = 30.0  # one fetch attempt waits this long for a growing file
EMIT_RETRY_SECONDS = 5.0

Finished = dict[str, tuple[datetime, bool]]  # Linkedid -> (ended, its files hold audio)


class AsteriskSource:
    """A RunningSource, a FetchingSource and a ReportingSource (connectors/base.py)."""

    def __init__(self, name: str, config: AsteriskSourceConfig) -> None:
        self.name = name
        self.config = config
        self.rules = DirectionRules(
            frozenset(config.inbound_contexts),
            frozenset(config.internal_contexts),
            config.extension_max_digits,
        )
        self.assembler = CallAssembler(
            Settings(
                monitor_dir=config.monitor_dir,
                leg_suffixes=config.leg_suffixes,
                raw_stereo=config.raw_stereo,
                cdr_wait=config.cdr_wait_seconds,
                stale_after=config.stale_call_hours * 3600,
            )
        )
        self.link = AmiLink(name, config, self._on_message, self._on_up)
        self._zone: tzinfo = (
            ZoneInfo(config.cdr_timezone)
            if config.cdr_timezone
            else datetime.now().astimezone().tzinfo or UTC
        )
        # Made here, not in run(): a run restarted after a failure keeps what was waiting.
        self._outbox: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._group: asyncio.TaskGroup | None = None

    @property
    def local_dirs(self) -> tuple[Path, ...]:
        return self.config.recordings

    def status(self) -> SourceStatus:
        link = self.link.status
        return SourceStatus(
            ready=link.state is LinkState.CONNECTED,
            state=link.state.value,
            connects=link.connections,
        )

    async def run(self, emit: Emit) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(self.link.run())
            group.create_task(self._hand_over())
            group.create_task(self._deliver(emit))

    # --- live events -------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        self.assembler.handle(message, datetime.now(UTC), time.monotonic())

    async def _hand_over(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for call in list(self.assembler.due(time.monotonic())):
                if call.partial and call.plan is None:
                    await self._find_recording(call)
                event = call_event(self.name, call, self.rules)
                if event is not None:
                    self._put(event)

    async def _find_recording(self, call: OpenCall) -> None:
        """A call that began while AMI was down: its MixMonitor line was missed, so its
        recording is looked for by the UNIQUEIDs in the file names."""
        keys = frozenset({call.linkedid, *call.channels})
        since = call.started_at.timestamp() - 3600 * self.config.stale_call_hours
        groups = await asyncio.to_thread(
            recovery.scan, self.config.recordings, since, time.time(), keys
        )
        paths = [path for group in groups.values() for path in group.paths]
        if paths:
            call.plan = from_files(paths, self.config.leg_suffixes, self.config.raw_stereo)
            call.recorded_uniqueid = uniqueid_in(paths[0])
            call.recorded_audio = any(group.audio for group in groups.values())

    def _put(self, event: CallEvent) -> None:
        self._outbox.put_nowait(event)

    async def _deliver(self, emit: Emit) -> None:
        """Hand events to the store in order; a store that fails is retried, never skipped."""
        while True:
            event = await self._outbox.get()
            while True:
                try:
                    stored = await emit(event)
                    break
                except CallscribeError as exc:
                    log.error(
                        "source %s: cannot store call %s yet: %s", self.name, event.external_id, exc
                    )
                    await asyncio.sleep(EMIT_RETRY_SECONDS)
            what = "recorded" if event.recordings else "missed or not recorded"
            if not getattr(stored, "created", True):
                log.debug("source %s: call %s was already known", self.name, event.external_id)
            elif event.raw.get("recovered"):
                log.warning(
                    "source %s: call %s (%s) ended while AMI was not heard; recovered (%s)",
                    self.name, event.external_id, what, event.raw["recovered"],
                )  # fmt: skip
            else:
                log.info("source %s: call %s ended (%s)", self.name, event.external_id, what)

    # --- the gap -------------------------------------------------------------------------

    async def _on_up(self, last_heard: float | None) -> None:
        session = self.assembler.new_session()
        until = time.time()
        since = (
            last_heard - GAP_MARGIN_SECONDS
            if last_heard is not None
            else until - 3600 * self.config.recover_hours
        )
        assert self._group is not None  # noqa: S101
        self._group.create_task(self._recover(since, until, session))

    async def _recover(self, since: float, until: float, session: int) -> None:
        try:
            await asyncio.sleep(self.config.recording_settle_seconds)
            await self._reconcile(since, until, session)
        except Exception:
            log.exception("source %s: recovering the calls of the gap failed", self.name)

    async def _reconcile(self, since: float, until: float, session: int) -> None:
        orphans = {c.linkedid: c.plan for c in self.assembler.calls.values() if c.session < session}
        finished, groups, rows = await asyncio.to_thread(self._look, since, until, orphans)
        log.debug(
            "source %s: gap %s to %s: %d followed call(s) stopped, %d recording(s), %d CDR row(s)",
            self.name, _clock(since), _clock(until), len(finished), len(groups), len(rows),
        )  # fmt: skip
        for linkedid, (ended, audio) in finished.items():
            self._finish_orphan(linkedid, session, ended, audio, "files")
        cdr_calls = recovery.cdr_calls(rows)
        for key, group in groups.items():
            call = self.assembler.find(key)
            if call is not None:
                if call.plan is None:  # its MixMonitor line was lost with the link
                    s = self.config
                    call.plan = from_files(group.paths, s.leg_suffixes, s.raw_stereo)
                    call.recorded_uniqueid = key
                    call.recorded_audio = group.audio
                ended = datetime.fromtimestamp(group.newest, tz=UTC)
                self._finish_orphan(call.linkedid, session, ended, group.audio, "files")
            elif not self.assembler.handed_over(key):
                rows_of = cdr_calls.pop(key, None)
                described = (
                    recovery.cdr_call(self.name, key, rows_of, self.rules, self._zone)
                    if rows_of
                    else None
                )
                s = self.config
                self.assembler.forget(key)
                self._put(
                    recovery.files_event(self.name, group, described, s.leg_suffixes, s.raw_stereo)
                )
        for key, rows_of in cdr_calls.items():
            self._from_cdr(key, rows_of, session)

    def _finish_orphan(
        self, linkedid: str, session: int, ended: datetime | None, audio: bool, how: str
    ) -> None:
        """Hand over a call last heard of before the gap, if it was not heard since."""
        call = self.assembler.calls.get(linkedid)
        if call is None or call.session >= session:
            return
        call.ended_at = call.ended_at or ended
        call.recorded_audio = call.recorded_audio or audio
        call.recovered = how
        event = call_event(self.name, self.assembler.pop(linkedid), self.rules)
        if event is not None:
            self._put(event)

    def _from_cdr(self, key: str, rows: list[dict[str, str]], session: int) -> None:
        event = recovery.cdr_call(self.name, key, rows, self.rules, self._zone)
        found = (self.assembler.find(row.get("uniqueid", "")) for row in [*rows, {"uniqueid": key}])
        call = next((c for c in found if c is not None), None)
        if call is not None:
            self._finish_orphan(call.linkedid, session, event.ended_at, False, "cdr")
        elif not self.assembler.handed_over(key):
            self.assembler.forget(key)
            self._put(event)

    def _look(
        self, since: float, until: float, orphans: dict[str, RecordingPlan | None]
    ) -> tuple[Finished, dict[str, recovery.FileGroup], list[dict[str, str]]]:
        """In a thread: the orphans whose files stopped changing before ``until`` (when, and
        whether they hold audio), the files of the gap, and the CDR rows of the gap."""
        reader = SpoolReader(self.config.recordings, self.config.path_map, 0)
        finished: Finished = {}
        for linkedid, plan in orphans.items():
            if plan is None:
                continue
            try:
                files = reader.snapshot(plan)
            except FetchError:
                continue
            newest = max(mtime for _, mtime in files) / 1e9
            if newest <= until:
                audio = any(size > recovery.HEADER_ONLY_BYTES for size, _ in files)
                finished[linkedid] = (datetime.fromtimestamp(newest, tz=UTC), audio)
        groups = recovery.scan(self.config.recordings, since, until)
        rows = []
        if self.config.cdr_csv is not None:
            rows = recovery.cdr_rows(
                self.config.cdr_csv, self.config.cdr_columns, self._zone, since, until
            )
        return finished, groups, rows

    # --- recordings ------------------------------------------------------------------------

    async def fetch_recording(
        self, call: Call, fetcher: RecordingFetcher, policy: FetchPolicy, dest_dir: Path
    ) -> FetchedFile:
        """Wait until the call's files are complete, then read them (see files.py)."""
        plan = recovery.plan_of(call.event)
        if plan is None and call.event.recordings:
            plan = RecordingPlan(mixed=call.event.recordings[0].location)
        if plan is None or not plan.files:
            raise FetchError("this call has no recording", retryable=False)
        reader = SpoolReader(self.config.recordings, self.config.path_map, policy.max_bytes)
        ended = call.event.ended_at or call.received_at
        deadline = ended + timedelta(seconds=self.config.recording_wait_seconds)
        started = time.monotonic()
        previous: object = None
        while True:
            try:
                current = await asyncio.to_thread(reader.snapshot, plan)
                if current == previous:
                    return await asyncio.to_thread(reader.copy, plan, dest_dir)
                reason = f"{plan.location} is still being written"
            except NotComplete as exc:
                current, reason = None, str(exc)
            if datetime.now(UTC) > deadline:
                waited = f"{self.config.recording_wait_seconds:g} s"
                raise FetchError(
                    f"{reason} {waited} after the call ended; giving up", retryable=False
                )
            if time.monotonic() - started > ATTEMPT_WAIT_SECONDS:
                raise FetchError(
                    reason, retryable=True, retry_after=self.config.recording_settle_seconds
                )
            previous = current
            await asyncio.sleep(self.config.recording_settle_seconds)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")
