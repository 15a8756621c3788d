"""Calls that ended while nobody listened: AMI never replays what a client missed.

After every login the source reconciles the gap since the previous session last heard
anything (at start: ``recover_hours`` back).  Three kinds of call may hide in it:

- calls followed before the link dropped whose hangup was lost: finished once their
  recording files exist and stopped changing before the new session began;
- calls that began and ended inside the gap: found as recordings in the configured
  folders (FreePBX's ``YYYY/MM/DD`` sub-folders outside the window are not walked) whose
  names carry Asterisk's UNIQUEID, and as rows of Asterisk's CDR file when one is
  configured (the only trace of a missed call that left no file);
- calls that began in the gap and ended after it: those come live, without their start.

Every call keeps the ``external_id`` its live events would have given it (the Linkedid,
which is the UNIQUEID in MixMonitor's file name when the first channel is the recorded
one, as on FreePBX), so a call seen both ways is one call.  The scans are blocking and
run in a thread.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from callscribe.connectors.sources.asterisk.direction import (
    DirectionRules,
    is_local_helper,
    peer_of,
)
from callscribe.connectors.sources.asterisk.plan import RecordingPlan, from_files, uniqueid_in
from callscribe.connectors.sources.asterisk.report import dialable
from callscribe.domain import CallEvent, Direction, RecordingRef, Speaker

log = logging.getLogger(__name__)

_AUDIO = re.compile(r"\.(wav|wav16|gsm|raw|sln\d*|slin|ulaw|alaw|mp3|ogg|flac)$", re.IGNORECASE)
HEADER_ONLY_BYTES = 44  # bytes: a WAV header with no samples, what a missed call leaves
_MAX_FILES = 100_000  # files looked at in one scan, whatever the folder holds
CDR_TAIL_BYTES = 32 << 20  # of a Master.csv: weeks of calls on a busy PBX
# FreePBX: {in,out,q,exten,internal,rg,g,...}-{to}-{from}-YYYYMMDD-HHMMSS-{UNIQUEID}
_FREEPBX = re.compile(r"^(?P<kind>[a-z]+)-(?P<to>[^-]*)-(?P<from>[^-]*)-\d{8}-\d{6}-")
_KINDS = {
    "in": Direction.INBOUND,
    "q": Direction.INBOUND,
    "rg": Direction.INBOUND,
    "g": Direction.INBOUND,
    "out": Direction.OUTBOUND,
    "exten": Direction.INTERNAL,
    "internal": Direction.INTERNAL,
}


@dataclass(slots=True)
class FileGroup:
    """The files of one call found in the recording folders (local paths)."""

    key: str  # the UNIQUEID in their names
    paths: list[str] = field(default_factory=list)
    newest: float = 0.0  # modification time, seconds since the epoch
    audio: bool = False  # at least one holds more than a header


def scan(
    roots: tuple[Path, ...], since: float, until: float, keys: frozenset[str] | None = None
) -> dict[str, FileGroup]:
    """Recordings last modified in ``[since, until]``, by the UNIQUEID in their names;
    with ``keys``, only those of these calls."""
    days = _days(since, until)
    groups: dict[str, FileGroup] = {}
    nameless = 0
    for path, info in _walk(roots, days):
        if not since <= info.st_mtime <= until or not _AUDIO.search(path.name):
            continue
        key = uniqueid_in(path.name)
        if key is None:
            nameless += 1
            continue
        if keys is not None and key not in keys:
            continue
        group = groups.setdefault(key, FileGroup(key))
        group.paths.append(str(path))
        group.newest = max(group.newest, info.st_mtime)
        group.audio = group.audio or info.st_size > HEADER_ONLY_BYTES
    if nameless:
        log.warning(
            "%d recording(s) changed in the gap carry no Asterisk UNIQUEID in their names "
            "and cannot be matched to calls; name them with ${UNIQUEID} (docs/sources/asterisk.md)",
            nameless,
        )
    return groups


def _days(since: float, until: float) -> frozenset[tuple[str, str, str]]:
    first = datetime.fromtimestamp(since).date() - timedelta(days=1)
    last = datetime.fromtimestamp(until).date() + timedelta(days=1)
    count = min((last - first).days, 4000)
    return frozenset(_ymd(first + timedelta(days=n)) for n in range(count + 1))


def _ymd(day: date) -> tuple[str, str, str]:
    return (f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")


def _walk(
    roots: tuple[Path, ...], days: frozenset[tuple[str, str, str]]
) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under the roots, skipping date folders (YYYY/MM/DD) outside ``days``."""
    seen = 0
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ()) for root in roots]
    while stack:
        folder, dated = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror)
            continue
        for entry in entries:
            seen += 1
            if seen > _MAX_FILES:
                log.warning(
                    "more than %d files in the recording folders; the rest not looked at",
                    _MAX_FILES,
                )
                return
            try:
                if entry.is_dir(follow_symlinks=False):
                    inner = (*dated, entry.name) if _datelike(entry.name, len(dated)) else dated
                    if len(inner) > len(dated) and not any(d[: len(inner)] == inner for d in days):
                        continue
                    stack.append((Path(entry.path), inner))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked


def _datelike(name: str, depth: int) -> bool:
    return depth < 3 and name.isdigit() and len(name) == (4 if depth == 0 else 2)


def files_event(
    source: str,
    group: FileGroup,
    described: CallEvent | None,
    leg_suffixes: tuple[str, str],
    raw_stereo: bool,
) -> CallEvent:
    """A call known only from its files, and from its CDR rows (``described``) if any."""
    name = Path(group.paths[0]).name
    guess = _FREEPBX.match(name)
    direction = _KINDS.get(guess["kind"], Direction.UNKNOWN) if guess else Direction.UNKNOWN
    base = described or CallEvent(
        source=source,
        external_id=group.key,
        direction=direction,
        ended_at=datetime.fromtimestamp(group.newest, tz=UTC),
        client_number=_client_from_name(guess, direction),
        raw={"linkedid": group.key, "recovered": "files"},
    )
    if not group.audio:
        return base  # header-only: a missed call
    side = Speaker.OPERATOR if base.direction is Direction.OUTBOUND else Speaker.CLIENT
    plan = from_files(group.paths, leg_suffixes, raw_stereo).on_side(side)
    return CallEvent(
        source=base.source,
        external_id=base.external_id,
        direction=base.direction,
        started_at=base.started_at,
        answered_at=base.answered_at,
        ended_at=base.ended_at or datetime.fromtimestamp(group.newest, tz=UTC),
        client_number=base.client_number,
        line_number=base.line_number,
        operator_id=base.operator_id,
        operator_name=base.operator_name,
        recordings=(RecordingRef(plan.location, plan.channels),),
        raw={**base.raw, "recording": plan.to_raw()},
    )


def _client_from_name(guess: re.Match[str] | None, direction: Direction) -> str | None:
    if guess is None:
        return None
    return dialable(guess["to"] if direction is Direction.OUTBOUND else guess["from"])


# --- CDR -------------------------------------------------------------------------------


def cdr_rows(
    path: Path, columns: tuple[str, ...], zone: tzinfo, since: float, until: float
) -> list[dict[str, str]]:
    """Rows of a CDR CSV file that ended in ``[since, until]``, read from its tail."""
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - CDR_TAIL_BYTES))
            tail = stream.read()
    except OSError as exc:
        log.warning("cannot read the CDR file %s: %s", path, exc.strerror)
        return []
    if size > CDR_TAIL_BYTES:
        tail = tail[tail.find(b"\n") + 1 :]  # the first line read is cut
    rows = []
    for values in _csv_lines(tail.decode("utf-8", "replace")):
        if len(values) < len(columns):
            continue
        row = dict(zip(columns, values, strict=False))
        ended = cdr_time(row.get("end") or row.get("start", ""), zone)
        if ended is not None and since <= ended.timestamp() <= until:
            rows.append(row)
    return rows


def _csv_lines(text: str) -> Iterator[list[str]]:
    """Each line's CSV values; a line that is no CSV (a quote never closed, a field over
    csv's size limit) is skipped alone instead of ending the read (cdr_csv writes one
    call per line)."""
    for line in io.StringIO(text):
        try:
            yield next(csv.reader([line]), [])
        except csv.Error:
            continue


def cdr_time(value: str, zone: tzinfo) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError:
        return None


def cdr_calls(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Rows by call: by ``linkedid`` when logged, else by ``uniqueid`` without the rows of
    Local ``;2`` halves and of channels another row dialled (their calls' legs)."""
    if rows and "linkedid" in rows[0]:
        calls: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            calls.setdefault(row["linkedid"] or row["uniqueid"], []).append(row)
        return calls
    dialled = {row.get("dstchannel", "") for row in rows} - {""}
    calls = {}
    for row in rows:
        channel = row.get("channel", "")
        if is_local_helper(channel) or channel in dialled:
            continue
        calls.setdefault(row["uniqueid"], []).append(row)
    return calls


def cdr_call(
    source: str, key: str, rows: list[dict[str, str]], rules: DirectionRules, zone: tzinfo
) -> CallEvent:
    """One call from its CDR rows (a missed call that left no recording, or the details
    of one found by its files)."""
    main = next((row for row in rows if row.get("uniqueid") == key), rows[0])
    talked = [row for row in rows if row.get("dstchannel") and row.get("disposition") == "ANSWERED"]
    operator_row = talked[0] if talked else next((r for r in rows if r.get("dstchannel")), None)
    direction = rules.direction(
        [main.get("dcontext", "")], main.get("src", ""), main.get("dst", "")
    )
    client = main.get("dst") if direction is Direction.OUTBOUND else main.get("src")
    starts = [t for t in (cdr_time(r.get("start", ""), zone) for r in rows) if t]
    ends = [t for t in (cdr_time(r.get("end", ""), zone) for r in rows) if t]
    answered = cdr_time(talked[0].get("answer", ""), zone) if talked else None
    return CallEvent(
        source=source,
        external_id=key,
        direction=direction,
        started_at=min(starts, default=None),
        answered_at=answered,
        ended_at=max(ends, default=None),
        client_number=dialable(client),
        operator_id=peer_of(operator_row["dstchannel"]) if operator_row else None,
        raw={
            "linkedid": key,
            "recovered": "cdr",
            "dial_status": "ANSWER" if talked else (main.get("disposition") or None),
            "cdr": [dict(row) for row in rows[:32]],
        },
    )


def plan_of(event: CallEvent) -> RecordingPlan | None:
    recording = event.raw.get("recording")
    return RecordingPlan.from_raw(recording) if isinstance(recording, Mapping) else None
