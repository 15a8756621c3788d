"""What the gap reconciliation finds on disk: recordings by UNIQUEID (FreePBX's dated
folders pruned), FreePBX's file names, and CDR rows."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callscribe.connectors.sources.asterisk.config import (
    CDR_CSV_COLUMNS,
    FREEPBX_INBOUND,
    FREEPBX_INTERNAL,
)
from callscribe.connectors.sources.asterisk.direction import DirectionRules
from callscribe.connectors.sources.asterisk.plan import uniqueid_in
from callscribe.connectors.sources.asterisk.recovery import (
    cdr_call,
    cdr_calls,
    cdr_rows,
    files_event,
    scan,
)
from callscribe.domain import Direction, Speaker

RULES = DirectionRules(frozenset(FREEPBX_INBOUND), frozenset(FREEPBX_INTERNAL), 5)


def touch(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize(
    ("name", "uniqueid"),
    [
        ("20261121-232442-1795303482.0.wav", "1795303482.0"),
        ("20261121-232442-1795303482.0-rx.wav", "1795303482.0"),
        ("in-74951112233-+79161234567-20261121-100000-1700000000.10.wav", "1700000000.10"),
        ("q-500-79161234567-20261121-100000-1700000000.10.WAV", "1700000000.10"),
        ("call-20261121.wav", None),
        ("1.2.3.4-x.wav", None),
    ],
)
def test_the_uniqueid_in_a_recording_name(name: str, uniqueid: str | None) -> None:
    assert uniqueid_in(name) == uniqueid


def test_scan_groups_the_files_of_the_window_and_skips_other_days(tmp_path: Path) -> None:
    now = time.time()
    today = datetime.fromtimestamp(now)
    day = tmp_path / f"{today:%Y}" / f"{today:%m}" / f"{today:%d}"
    touch(day / "in-100-79161234567-20261121-100000-1700000000.1.wav", 5000, now - 60)
    touch(day / "in-100-79161234567-20261121-100000-1700000000.1-rx.wav", 5000, now - 60)
    touch(day / "in-100-79031112233-20261121-100500-1700000300.7.wav", 44, now - 30)
    touch(day / "out-89161234567-101-20261121-090000-1699990000.1.wav", 5000, now - 7200)  # old
    touch(tmp_path / "2019" / "01" / "01" / "x-1546300800.1.wav", 5000, now - 60)  # not walked
    touch(tmp_path / "notes.txt", 10, now - 60)
    groups = scan((tmp_path,), now - 3600, now)
    assert sorted(groups) == ["1700000000.1", "1700000300.7"]
    assert len(groups["1700000000.1"].paths) == 2
    assert groups["1700000000.1"].audio
    assert not groups["1700000300.7"].audio
    assert sorted(scan((tmp_path,), now - 3600, now, frozenset({"1700000300.7"}))) == [
        "1700000300.7"
    ]


def test_a_freepbx_file_name_gives_direction_and_number(tmp_path: Path) -> None:
    now = time.time()
    touch(tmp_path / "out-89161234567-101-20261121-090000-1699990000.1.wav", 5000, now)
    touch(tmp_path / "in-74951112233-+79031112233-20261121-090000-1699990001.1.wav", 44, now)
    groups = scan((tmp_path,), now - 10, now + 10)
    outbound = files_event("pbx", groups["1699990000.1"], None, ("-rx", "-tx"), True)
    assert (outbound.direction, outbound.client_number) == (Direction.OUTBOUND, "89161234567")
    assert outbound.raw["recording"]["recorded_side"] == Speaker.OPERATOR.value
    missed = files_event("pbx", groups["1699990001.1"], None, ("-rx", "-tx"), True)
    assert (missed.direction, missed.client_number) == (Direction.INBOUND, "+79031112233")
    assert missed.recordings == ()


def test_cdr_rows_of_the_window_read_in_the_pbx_time_zone(tmp_path: Path) -> None:
    zone = ZoneInfo("Europe/Moscow")
    end = datetime(2026, 11, 21, 12, 0, 0, tzinfo=zone)
    lines = []
    for minutes, uniqueid in ((-120, "1.1"), (-5, "1.2"), (0, "1.3")):
        stamp = (end + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
        values = dict.fromkeys(CDR_CSV_COLUMNS, "")
        values |= {"start": stamp, "end": stamp, "uniqueid": uniqueid, "disposition": "NO ANSWER"}
        lines.append(",".join(f'"{values[c]}"' for c in CDR_CSV_COLUMNS))
    path = tmp_path / "Master.csv"
    path.write_text("\n".join(["broken,line", *lines]) + "\n")
    since = (end - timedelta(minutes=10)).timestamp()
    rows = cdr_rows(path, CDR_CSV_COLUMNS, zone, since, end.timestamp())
    assert [row["uniqueid"] for row in rows] == ["1.2", "1.3"]
    assert cdr_rows(path, CDR_CSV_COLUMNS, UTC, since, end.timestamp()) == []  # 3 h off


def test_cdr_rows_group_by_linkedid_when_it_is_logged() -> None:
    common = {"channel": "PJSIP/trunk-00000001", "src": "+79161234567", "dst": "100",
              "dcontext": "from-trunk", "start": "2026-11-21 10:00:00"}  # fmt: skip
    rows = [
        common | {"uniqueid": "5.1", "linkedid": "5.1", "dstchannel": "PJSIP/101-00000002",
                  "disposition": "NO ANSWER", "end": "2026-11-21 10:00:20", "answer": ""},
        common | {"uniqueid": "5.3", "linkedid": "5.1", "dstchannel": "PJSIP/102-00000003",
                  "disposition": "ANSWERED", "end": "2026-11-21 10:01:00",
                  "answer": "2026-11-21 10:00:10"},
    ]  # fmt: skip
    ((key, grouped),) = cdr_calls(rows).items()
    assert key == "5.1"
    event = cdr_call("pbx", key, grouped, RULES, UTC)
    assert event.direction is Direction.INBOUND
    assert event.operator_id == "102"
    assert event.talk_seconds == 50
