"""What Mango says about a call, as callscribe's :class:`~callscribe.domain.CallEvent`.

Two notifications describe a finished call (VPBX API v1.9 §3.1.6, §3.1.8): ``summary``
(direction, numbers, times; the call is over) and ``record/added`` (a recording is stored
and can be downloaded), one per recording, joined by ``entry_id``.  Backfill reads the same
facts from the call statistics (§3.4.1); both go through :func:`call_event`, so a call seen
both ways is the same call with the same ``external_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from callscribe.connectors.sources.call_schema import Id, Text
from callscribe.domain import CallEvent, Direction, RecordingRef

RECORDING_SCHEME = "mango:"  # RecordingRef.location: a recording id, not a URL
_DIRECTIONS = {0: Direction.INTERNAL, 1: Direction.INBOUND, 2: Direction.OUTBOUND}
# Past this (the year 5138) a number is no time at all, and reading it as one overflows.
_LAST_STAMP = 10**11


def _stamp(value: Any) -> int | None:
    """A Unix timestamp, as a number or a string of digits; Mango's 0 means "none"."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _LAST_STAMP:
        raise ValueError("expected a Unix timestamp")
    return value or None


Stamp = Annotated[int | None, BeforeValidator(_stamp)]


class Lenient(BaseModel):
    # Mango adds fields over time; those callscribe does not read are kept in ``raw``.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Party(Lenient):
    extension: Text = None
    number: Text = None


class Summary(Lenient):
    """``events/summary``: the call is over."""

    entry_id: Id
    call_direction: int | None = None
    caller: Party = Field(default_factory=Party, alias="from")
    callee: Party = Field(default_factory=Party, alias="to")
    line_number: Text = None
    create_time: Stamp = None
    talk_time: Stamp = None
    end_time: Stamp = None
    entry_result: int | None = None

    @property
    def talked(self) -> bool:
        """Someone answered: talk_time is set and entry_result is not 0 ("missed").  A
        call that ended in the voice menu has entry_result 1 but no talk_time."""
        return self.talk_time is not None and self.entry_result != 0


class RecordAdded(Lenient):
    """``events/record/added``: one recording of the call can be downloaded."""

    entry_id: Id
    recording_id: Id
    user_id: int | None = None
    timestamp: Stamp = None


@dataclass(frozen=True, slots=True)
class Clock:
    """Reads Mango's timestamps in the source's time zone (``timestamp_offset_hours``:
    how far Mango's numbers run ahead of Unix time, 0 unless an account shows otherwise)."""

    zone: ZoneInfo
    offset_hours: int = 0

    def read(self, stamp: int | None) -> datetime | None:
        if stamp is None:
            return None
        moment = datetime.fromtimestamp(stamp - self.offset_hours * 3600, UTC)
        return moment.astimezone(self.zone)

    def day(self, day: date) -> tuple[int, int]:
        """The first and last second of ``day`` in the source's time zone, as Mango's
        ``date_from`` and ``date_to`` (both inclusive)."""
        start = datetime.combine(day, time(), self.zone)
        end = datetime.combine(day + timedelta(days=1), time(), self.zone)
        shift = self.offset_hours * 3600
        return int(start.timestamp()) + shift, int(end.timestamp()) - 1 + shift


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What a summary or a statistics row says about one call."""

    entry_id: str
    direction: Direction
    created: int | None
    answered: int | None
    ended: int | None
    caller: Party
    callee: Party
    line_number: str | None

    @classmethod
    def of_summary(cls, summary: Summary) -> CallFacts:
        return cls(
            entry_id=summary.entry_id,
            direction=direction(summary.call_direction, summary.caller, summary.callee),
            created=summary.create_time,
            answered=summary.talk_time if summary.talked else None,
            ended=summary.end_time,
            caller=summary.caller,
            callee=summary.callee,
            line_number=summary.line_number,
        )


def direction(code: int | None, caller: Party, callee: Party) -> Direction:
    """Mango's call_direction; without one (the statistics have none), who is an
    employee tells: an extension calling out, or being called from outside."""
    if code is not None:
        return _DIRECTIONS.get(code, Direction.UNKNOWN)
    if caller.extension and callee.extension:
        return Direction.INTERNAL
    if caller.extension:
        return Direction.OUTBOUND
    return Direction.INBOUND


def call_event(
    source: str,
    facts: CallFacts,
    recording_ids: Sequence[str],
    raw: Mapping[str, Any],
    clock: Clock,
) -> CallEvent:
    """The call, with a recording only when someone answered (a missed call has none)."""
    if facts.direction is Direction.OUTBOUND:
        client, operator = facts.callee.number, facts.caller.extension
    elif facts.direction is Direction.INTERNAL:
        client, operator = None, facts.caller.extension
    else:
        client, operator = facts.caller.number, facts.callee.extension
    talked = facts.answered is not None
    return CallEvent(
        source=source,
        external_id=facts.entry_id,
        direction=facts.direction,
        started_at=clock.read(facts.created),
        answered_at=clock.read(facts.answered),
        ended_at=clock.read(facts.ended),
        client_number=client,
        line_number=facts.line_number,
        operator_id=operator,
        recordings=tuple(RecordingRef(RECORDING_SCHEME + rid) for rid in recording_ids)
        if talked
        else (),
        raw=raw,
    )


def recording_id(location: str) -> str:
    """The recording id in a ``RecordingRef.location`` this source made."""
    if not location.startswith(RECORDING_SCHEME):
        raise ValueError(f"not a Mango recording reference: {location[:60]!r}")
    return location.removeprefix(RECORDING_SCHEME)
