"""What both stores' batch work shares once the rows are read: transcript versions,
retranscribe runs and items as values, why a call cannot be transcribed again, and what
a transcript says (the tables are the same; see rows.py for how the drivers differ)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from callscribe.domain import CallState, Transcript
from callscribe.phones import phone_key
from callscribe.store.base import ItemState, RetranscribeItem, RetranscribeRun, TranscriptVersion
from callscribe.store.rows import Row, optional_time
from callscribe.transcription.render import from_json_dict, to_json_dict

T = TypeVar("T")  # a time as the driver takes it

REDOABLE = (CallState.DONE.value, CallState.TRANSCRIBED.value)
_NOT_REDOABLE = {
    CallState.RECEIVED: "the service has not transcribed it yet",
    CallState.FETCHED: "the service has not transcribed it yet",
    CallState.FAILED: "the call failed before it was transcribed ('callscribe calls retry' "
    "tries it again)",
    CallState.NO_RECORDING: "the call has no recording",
}
BUSY = "the service is fetching or transcribing it right now"

# What redo_obstacle needs of a call, in one statement; its parameters are the run
# asking (whose own holds do not count), the time now and the call's id.  Written with
# psycopg's %s; SQLite's callers put its ? in their place.
OBSTACLE_SQL = (
    "SELECT c.state, EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id) AS recorded,"
    " EXISTS (SELECT 1 FROM jobs j WHERE j.call_id = c.id AND j.kind IN ('fetch', 'transcribe')"
    " AND j.state IN ('queued', 'running')) AS busy,"
    " (SELECT i.worker FROM retranscribe_items i WHERE i.call_id = c.id AND i.run_id <> %s"
    " AND i.state = 'running' AND i.lease_until >= %s LIMIT 1) AS other"
    " FROM calls c WHERE c.id = %s"
)

# What erase_calls deletes, by ERASED_KINDS: the table, and its column holding call ids.
ERASED_TABLES = {
    "call": ("calls", "id"),
    "recording": ("recordings", "call_id"),
    "transcript": ("transcripts", "call_id"),
    "transcript_version": ("transcript_versions", "call_id"),
    "delivery": ("deliveries", "call_id"),
    "job": ("jobs", "call_id"),
}


def number_key(number: str) -> str:
    """``phones.phone_key`` of a number asked about; ValueError when it is none."""
    key = phone_key(number)
    if key is None:
        raise ValueError(f"{number!r} is not a phone number (10 to 15 digits)")
    return key


def redo_obstacle(
    state: str | None, *, recorded: bool, busy: bool, other_worker: str | None
) -> str | None:
    """Why a call cannot be transcribed again now (None when it can), from what the store
    found: its state (None: deleted), whether it has a recording row, whether the service
    has a FETCH or TRANSCRIBE job for it queued or running, and the worker of another
    run holding it under a live lease."""
    if state is None:
        return "the call was deleted"
    if state not in REDOABLE:
        return _NOT_REDOABLE.get(CallState(state), f"the call is {state}")
    if not recorded:  # a missed call, delivered as such
        return _NOT_REDOABLE[CallState.NO_RECORDING]
    if busy:
        return BUSY
    if other_worker is not None:
        return f"another retranscribe ({other_worker}) is working on it"
    return None


# A call's transcripts: the current one in ``transcripts``, the ones it replaced in
# ``transcript_versions``.  The statements store_transcript runs (the call id, and the
# time where said), and both tables as one, oldest version first (the call id, twice).
NEXT_VERSION_SQL = (
    # Deliveries remember the version of a transcript retention deleted: never reused.
    "SELECT max(v) AS v FROM (SELECT version AS v FROM transcripts WHERE call_id = %s"
    " UNION ALL SELECT version FROM transcript_versions WHERE call_id = %s"
    " UNION ALL SELECT version FROM deliveries WHERE call_id = %s) AS every_version"
)
KEEP_CURRENT_SQL = (
    "INSERT INTO transcript_versions (call_id, version, document, settings, made_at,"
    " replaced_at) SELECT call_id, version, document, settings, made_at, %s"
    " FROM transcripts WHERE call_id = %s"
)
INSERT_CURRENT_SQL = (
    "INSERT INTO transcripts (call_id, document, version, settings, made_at)"
    " VALUES (%s, %s, %s, %s, %s)"
)
VERSIONS_SQL = (
    "SELECT version, document, settings, made_at, replaced_at FROM transcript_versions"
    " WHERE call_id = %s UNION ALL SELECT version, document, settings, made_at, NULL"
    " FROM transcripts WHERE call_id = %s ORDER BY version"
)


def transcript_values(
    call_id: int,
    transcript: Transcript,
    version: int,
    settings: Mapping[str, Any] | None,
    made_at: T,
) -> tuple[int, str, int, str | None, T]:
    """The parameters of :data:`INSERT_CURRENT_SQL`."""
    document = json.dumps(to_json_dict(transcript), ensure_ascii=False)
    recorded = None if settings is None else json.dumps(dict(settings), sort_keys=True)
    return (call_id, document, version, recorded, made_at)


def imported_state(transcript: Transcript | None, error: str | None) -> CallState:
    """The state ``import_call`` stores a call in: TRANSCRIBED, or FAILED with ``error``."""
    if transcript is None and not error:
        raise ValueError("an imported call without a transcript needs the error")
    return CallState.TRANSCRIBED if transcript is not None else CallState.FAILED


def obstacle_of(row: Row | None) -> str | None:
    """:func:`redo_obstacle` of a row of :data:`OBSTACLE_SQL` (None: no such call)."""
    if row is None:
        return redo_obstacle(None, recorded=False, busy=False, other_worker=None)
    return redo_obstacle(
        row["state"], recorded=bool(row["recorded"]), busy=bool(row["busy"]),
        other_worker=row["other"],
    )  # fmt: skip


def version_from_row(row: Row) -> TranscriptVersion:
    """A row of ``transcripts`` (``replaced_at`` NULL) or ``transcript_versions``."""
    settings = row["settings"]
    return TranscriptVersion(
        version=int(row["version"]),
        transcript=from_json_dict(json.loads(row["document"])),
        settings={} if settings is None else json.loads(settings),
        made_at=optional_time(row["made_at"]),
        replaced_at=optional_time(row["replaced_at"]),
    )


def run_from_row(row: Row, states: Iterable[tuple[str, int]], created: bool) -> RetranscribeRun:
    """A ``retranscribe_runs`` row with the count of its items in each state."""
    counts = dict.fromkeys(ItemState, 0)
    for state, count in states:
        counts[ItemState(state)] = int(count)
    return RetranscribeRun(
        id=int(row["id"]),
        key=row["key"],
        request=json.loads(row["request"]),
        model=row["model"],
        created=created,
        counts=counts,
        audio_seconds=float(row["audio_seconds"]),
        work_seconds=float(row["work_seconds"]),
    )


def item_from_row(row: Row) -> RetranscribeItem:
    return RetranscribeItem(
        call_id=int(row["call_id"]),
        state=ItemState(row["state"]),
        worker=row["worker"],
        version=row["version"],
        reason=row["reason"],
    )


def says(document: str, folded: str) -> bool:
    """Whether a stored transcript's segments hold ``folded`` (already casefolded): the
    text search of ``find_calls``, done the same whatever the database's locale."""
    segments = json.loads(document).get("segments", [])
    return any(folded in str(s.get("text", "")).casefold() for s in segments)
