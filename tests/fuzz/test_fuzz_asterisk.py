"""The Asterisk source's parsers against a hostile AMI stream and a broken CDR file.

A stream is made of AMI events in the vocabulary the call assembly reads (channel events
sharing a few Linkedids and Uniqueids, MixMonitor lines naming any path, Cdr events),
encoded on the wire, then mutated and cut into arbitrary chunks.  It goes the way the
source reads it: framing (``FrameTooLarge`` is its one documented refusal: the link is
dropped), call assembly, the calls handed over as events, and the events into a real
SQLite store.  The CDR file read after a reconnection is fuzzed the same way: any bytes,
CSV that is almost right, a quote never closed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callscribe.connectors.sources.asterisk import recovery
from callscribe.connectors.sources.asterisk.calls import CallAssembler, Settings
from callscribe.connectors.sources.asterisk.config import (
    CDR_CSV_COLUMNS,
    FREEPBX_INBOUND,
    FREEPBX_INTERNAL,
)
from callscribe.connectors.sources.asterisk.direction import DirectionRules
from callscribe.connectors.sources.asterisk.framing import (
    FrameReader,
    FrameTooLarge,
    encode_message,
)
from callscribe.connectors.sources.asterisk.report import call_event
from callscribe.store.sqlite import SqliteStore
from tests.fuzz.harness import FUZZ, Refused, checked
from tests.fuzz.strategies import WIRE_TEXT, mutated

RULES = DirectionRules(frozenset(FREEPBX_INBOUND), frozenset(FREEPBX_INTERNAL), 5)
T0 = datetime(2026, 11, 21, 23, 24, 42, tzinfo=UTC)
MONITOR = "/var/spool/asterisk/monitor"
ZONE = ZoneInfo("Europe/Moscow")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("fuzz-ami") / "fuzz.db")
    yield store
    store.close()


IDS = st.sampled_from(["1700000000.1", "1700000000.2", "1700000001.7", ""]) | WIRE_TEXT
EVENT_HEADERS = st.fixed_dictionaries(
    {
        "Event": st.sampled_from(
            ["Newchannel", "Newexten", "VarSet", "DialBegin", "DialEnd", "BridgeEnter",
             "BridgeLeave", "Hangup", "Cdr", "Newstate", "FullyBooted"]
        ) | WIRE_TEXT,
        "Linkedid": IDS,
        "Uniqueid": IDS,
    },
    optional={
        "UniqueID": IDS,
        "DestUniqueid": IDS,
        "Channel": st.sampled_from(["PJSIP/101-00000001", "SIP/trunk-00000002",
                                    "Local/101@from-queue-00000001;2"]) | WIRE_TEXT,
        "DestChannel": WIRE_TEXT,
        "Context": st.sampled_from([*FREEPBX_INBOUND, *FREEPBX_INTERNAL]) | WIRE_TEXT,
        "Exten": st.sampled_from(["101", "s", "84951234567", "+79991234567"]) | WIRE_TEXT,
        "CallerIDNum": st.sampled_from(["79991234567", "101", "<unknown>"]) | WIRE_TEXT,
        "CallerIDName": WIRE_TEXT,
        "ConnectedLineNum": WIRE_TEXT,
        "ConnectedLineName": WIRE_TEXT,
        "DialStatus": st.sampled_from(["ANSWER", "NOANSWER", "BUSY"]) | WIRE_TEXT,
        "Application": st.sampled_from(["MixMonitor", "Dial", "Queue"]),
        "AppData": st.sampled_from(
            ["in-1.wav,b", "/../../etc/passwd,r(/etc/shadow)t(x)D", "a.sln16,D", ",,", "(((("]
        ) | WIRE_TEXT,
        "Variable": st.just("MIXMONITOR_FILENAME") | WIRE_TEXT,
        "Value": WIRE_TEXT,
        "ChanVariable": st.lists(WIRE_TEXT, max_size=3),
        "Timestamp": st.sampled_from(["1700000000.5", "nan", "1e400", "-1e30", "x", "9e18"]),
        "Disposition": st.sampled_from(["ANSWERED", "NO ANSWER"]) | WIRE_TEXT,
        "StartTime": WIRE_TEXT,
    },
)  # fmt: skip


def wire(headers: dict[str, object]) -> bytes:
    # Header names and values on the wire cannot hold CR/LF: those end a line.
    def clean(text: str) -> str:
        return text.replace("\r", " ").replace("\n", " ")

    flat = {
        clean(key): [clean(v) for v in value] if isinstance(value, list) else clean(str(value))
        for key, value in headers.items()
        if clean(key).strip()
    }
    return encode_message(flat) if flat else b""


@st.composite
def ami_stream(draw: st.DrawFn) -> list[bytes]:
    """A session: the banner, events, maybe mutated; cut into the chunks reads return."""
    stream = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(
        wire(headers) for headers in draw(st.lists(EVENT_HEADERS, max_size=40))
    )
    if draw(st.integers(0, 3)) == 0:
        stream = draw(mutated(stream))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@FUZZ
@given(ami_stream() | st.lists(st.binary(max_size=3000), max_size=6))
def test_ami_stream_to_stored_calls(store: SqliteStore, chunks: list[bytes]) -> None:
    reader = FrameReader(max_message_bytes=4096)  # small, so random streams pass it
    calls = CallAssembler(Settings(MONITOR, ("-rx", "-tx"), True, 2.0, 3600.0))
    mono = 0.0
    for chunk in chunks:
        try:
            messages = checked("ami framing", reader.feed, chunk, allowed=(FrameTooLarge,))
        except Refused:
            return  # the source drops the link
        for headers in messages:
            mono += 0.5
            checked("ami call assembly", calls.handle, headers, T0 + timedelta(seconds=mono), mono)
    for call in checked("ami call assembly", lambda: list(calls.due(mono + 10**6))):
        event = checked("ami call report", call_event, "pbx", call, RULES)
        if event is not None:
            checked("ami call store", store.ingest, event)
    assert not calls.calls


# --- the CDR file ----------------------------------------------------------------------

CDR_VALUES = st.fixed_dictionaries(
    {
        "src": st.sampled_from(["79991234567", "101", ""]) | WIRE_TEXT,
        "dst": st.sampled_from(["101", "84951234567", "s"]) | WIRE_TEXT,
        "dcontext": st.sampled_from([*FREEPBX_INBOUND, "from-internal"]) | WIRE_TEXT,
        "channel": st.sampled_from(["SIP/trunk-0001", "Local/1@x-0001;2"]) | WIRE_TEXT,
        "dstchannel": st.sampled_from(["PJSIP/101-0002", ""]) | WIRE_TEXT,
        "start": st.sampled_from(["2026-11-21 10:00:00", "9999-12-31 23:59:59", ""]) | WIRE_TEXT,
        "answer": st.sampled_from(["2026-11-21 10:00:05", "0001-01-01 00:00:00"]) | WIRE_TEXT,
        "end": st.sampled_from(["2026-11-21 10:01:00", "2026-13-40 99:99:99"]) | WIRE_TEXT,
        "disposition": st.sampled_from(["ANSWERED", "NO ANSWER", "BUSY"]) | WIRE_TEXT,
        "uniqueid": st.sampled_from(["1700000000.1", "1700000000.2", ""]) | WIRE_TEXT,
        "userfield": WIRE_TEXT,
    }
)


@st.composite
def cdr_file(draw: st.DrawFn) -> bytes:
    lines = []
    for row in draw(st.lists(CDR_VALUES, max_size=12)):
        values = [row.get(column, "") for column in CDR_CSV_COLUMNS]
        lines.append(",".join(f'"{v}"' for v in values))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    style = draw(st.sampled_from(["clean", "mutated", "open quote", "huge field"]))
    if style == "mutated":
        data = draw(mutated(data))
    elif style == "open quote":  # a userfield with a stray quote: the rest is one field
        data = data + b'"","' + b"x" * 200_000 + b"\n"
    elif style == "huge field":
        data = b'"' + b"y" * 150_000 + b'",' + data
    return data


@FUZZ
@given(cdr_file() | st.binary(max_size=3000))
@example(b'"1","2"\n"unclosed' + b"z" * 140_000 + b"\n")
def test_cdr_file_to_stored_calls(
    store: SqliteStore, tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "Master.csv"
    path.write_bytes(data)
    since, until = datetime(2026, 11, 1, tzinfo=UTC).timestamp(), datetime(2026, 12, 1).timestamp()
    rows = checked(
        "asterisk cdr file", recovery.cdr_rows, path, CDR_CSV_COLUMNS, ZONE, since, until
    )
    grouped = checked("asterisk cdr file", recovery.cdr_calls, rows)
    for key, rows_of in grouped.items():
        event = checked("asterisk cdr call", recovery.cdr_call, "pbx", key, rows_of, RULES, ZONE)
        checked("asterisk cdr store", store.ingest, event)


def test_the_generated_cdr_rows_parse_as_written(tmp_path: Path) -> None:
    """The fuzzing's clean files are what cdr_csv writes: a row comes back as written."""
    row = {c: f"v{n}" for n, c in enumerate(CDR_CSV_COLUMNS)} | {"end": "2026-11-21 10:01:00"}
    path = tmp_path / "Master.csv"
    with path.open("w", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_ALL).writerow(list(row.values()))
    since, until = datetime(2026, 11, 1, tzinfo=UTC).timestamp(), datetime(2026, 12, 1).timestamp()
    assert recovery.cdr_rows(path, CDR_CSV_COLUMNS, ZONE, since, until) == [row]
