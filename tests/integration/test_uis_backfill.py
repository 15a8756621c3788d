"""``callscribe backfill`` with the UIS source against a stand-in of UIS's Data API:
paging, limits waited out, refusals reported, resumed after a refusal, Ctrl-C or kill -9
with each call stored once, and one call when a live notification saw it first."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from callscribe.cli import main
from callscribe.config.loader import load_settings
from callscribe.connectors.sources.uis import UisSource
from callscribe.domain import Direction
from callscribe.errors import SourceError
from callscribe.testing import wait_for
from tests.hookserver import hook_server
from tests.standins.uis import Call, DataApi, call_end_values, notify

TOKEN = secrets.token_urlsafe(32)
API_KEY = "uis-api-" + secrets.token_hex(12)
DAY = date(2026, 11, 20)
MEDIA = "https://media.uiscom.ru"


def calls() -> list[Call]:
    return [
        Call(3001, "2026-11-20 09:00:00", full_record_file_link=f"{MEDIA}/4001/r1"),
        Call(3002, "2026-11-20 09:30:00", records=["aa11"]),
        Call(3003, "2026-11-20 10:00:00", is_lost=True),
        Call(3004, "2026-11-20 11:00:00", full_record_file_link=f"{MEDIA}/4004/r1"),
        Call(3005, "2026-11-20 23:59:00", talk_duration=0),
        Call(3006, "2026-11-21 08:00:00", full_record_file_link=f"{MEDIA}/4006/r1"),
        Call(3007, "2026-11-21 09:00:00", is_lost=True),
    ]


@dataclass
class Setup:
    api: DataApi
    config: Path
    state: Path

    def run(self, *args: str) -> int:
        return main(["backfill", "--config", str(self.config), "--source", "uis", *args])

    def stored(self) -> list[str]:
        database = self.state / "callscribe.db"
        if not database.exists():
            return []
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT external_id FROM calls ORDER BY external_id").fetchall()
        return [row[0] for row in rows]


def write_config(tmp: Path, api: DataApi, **extra: Any) -> Path:
    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in extra.items()]
    text = f"""
[daemon]
state_dir = "{tmp / "state"}"

[sources.uis]
type = "uis"
token = "{TOKEN}"
api_url = "{api.endpoint}"
api_token = "{API_KEY}"
api_page_size = 2
api_interval_seconds = 0
api_wait_seconds = 0.05
recording_wait_seconds = 60
{chr(10).join(lines)}

[sinks.archive]
type = "jsonl"
path = "{tmp / "state" / "archive.jsonl"}"

[[routes]]
sinks = ["archive"]
calls = "all"
"""
    path = tmp / "callscribe.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with DataApi(API_KEY, calls(), limit_errors=2) as api:
        yield Setup(api, write_config(tmp_path, api), tmp_path / "state")


def source(setup: Setup) -> UisSource:
    config = load_settings(setup.config).sources["uis"]
    return UisSource("uis", config)  # type: ignore[arg-type]


async def test_a_day_is_read_page_by_page_as_the_notifications_would_say(setup: Setup) -> None:
    events = [event async for event in source(setup).calls_on(DAY)]
    assert [e.external_id for e in events] == ["3001", "3002", "3003", "3004", "3005"]
    recorded = {e.external_id: [r.location for r in e.recordings] for e in events}
    assert recorded == {
        "3001": [f"{MEDIA}/4001/r1"],
        "3002": ["https://app.uiscom.ru/system/media/talk/4002/aa11/"],
        "3003": [],  # lost: a missed call
        "3004": [f"{MEDIA}/4004/r1"],
        "3005": [],  # answered, never talked: nothing to wait for
    }
    first = events[0]
    assert first.direction is Direction.INBOUND
    assert (first.client_number, first.operator_id) == ("79991234567", "4242")
    assert first.talk_seconds == 12
    assert first.raw["communication_id"] == 4001  # the report's own fields
    # Two limit errors waited out, then pages at offsets 0, 2, 4 of one day.
    assert [p["offset"] for p in setup.api.answered] == [0, 2, 4]
    assert {(p["date_from"], p["date_till"]) for p in setup.api.answered} == {
        ("2026-11-20 00:00:00", "2026-11-20 23:59:59")
    }


async def test_refusals_say_why_without_the_key(tmp_path: Path) -> None:
    with DataApi("another-key", calls()) as api:
        setup = Setup(api, write_config(tmp_path, api), tmp_path / "state")
        with pytest.raises(SourceError) as refused:
            _ = [event async for event in source(setup).calls_on(DAY)]
    assert "Access token is invalid" in str(refused.value)
    assert API_KEY not in str(refused.value)


async def test_limits_that_last_are_given_up_with_the_reason(tmp_path: Path) -> None:
    with DataApi(API_KEY, calls(), limit_errors=100) as api:
        setup = Setup(api, write_config(tmp_path, api, api_attempts=3), tmp_path / "state")
        with pytest.raises(SourceError) as limited:
            _ = [event async for event in source(setup).calls_on(DAY)]
    assert "limit is reached" in str(limited.value)
    assert "gave up after 3 tries" in str(limited.value)
    assert len(api.received) == 3
    assert api.answered == []


def test_without_an_api_key_backfill_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with DataApi(API_KEY, calls()) as api:
        config = write_config(tmp_path, api)
        config.write_text(config.read_text().replace(f'api_token = "{API_KEY}"', ""))
        setup = Setup(api, config, tmp_path / "state")
        assert setup.run("--since", "2026-11-20", "--until", "2026-11-20") == 1
    assert "set api_token to read past calls" in capsys.readouterr().out


def test_backfill_stores_each_call_once_and_skips_finished_days(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup.run("--since", "2026-11-20", "--until", "2026-11-22", "--dry-run") == 0
    dry = capsys.readouterr()
    assert "calls: 7 found: 7 would be new, 0 already known" in dry.out
    assert setup.stored() == []

    assert setup.run("--since", "2026-11-20", "--until", "2026-11-22") == 0
    out = capsys.readouterr()
    assert "days:  3 read, 0 finished by an earlier backfill (skipped), 0 failed" in out.out
    assert "calls: 7 found: 7 new, 0 already known, 0 failed; 4 with a recording" in out.out
    assert out.err == (  # off a terminal: the progress line at the end (and every 30 s)
        "backfill uis: 3 of 3 days, 7 calls (7 new, 0 already known), 4 with a recording\n"
    )
    assert setup.stored() == [str(n) for n in range(3001, 3008)]

    assert setup.run("--since", "2026-11-19", "--until", "2026-11-22") == 0
    again = capsys.readouterr().out
    assert "days:  1 read, 3 finished by an earlier backfill (skipped), 0 failed" in again
    assert setup.run("--since", "2026-11-20", "--until", "2026-11-20", "--again") == 0
    assert "calls: 5 found: 0 new, 5 already known" in capsys.readouterr().out
    assert setup.stored() == [str(n) for n in range(3001, 3008)]


def test_missed_calls_are_routed_when_stored(setup: Setup) -> None:
    assert setup.run("--since", "2026-11-21", "--until", "2026-11-21") == 0
    with sqlite3.connect(setup.state / "callscribe.db") as db:
        rows = db.execute(
            "SELECT c.external_id, c.state, d.sink FROM calls c"
            " LEFT JOIN deliveries d ON d.call_id = c.id ORDER BY c.external_id"
        ).fetchall()
    assert rows == [("3006", "received", None), ("3007", "no_recording", "archive")]


def test_a_day_the_vendor_refuses_stops_the_run_and_a_rerun_resumes(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.api.refuse_after = 1  # the key is revoked after the first page of the first day
    assert setup.run("--since", "2026-11-20", "--until", "2026-11-21") == 1
    out = capsys.readouterr().out
    assert "calls: 2 found: 2 new, 0 already known" in out
    assert "failed: 2026-11-20: " in out
    assert "Access token is invalid" in out
    assert "stopped at 2026-11-20" in out
    assert setup.stored() == ["3001", "3002"]
    setup.api.refuse_after = None
    assert setup.run("--since", "2026-11-20", "--until", "2026-11-21") == 0
    assert "calls: 7 found: 5 new, 2 already known" in capsys.readouterr().out
    assert setup.stored() == [str(n) for n in range(3001, 3008)]


def test_a_backfill_killed_mid_day_resumes_and_stores_each_call_once(setup: Setup) -> None:
    for signum, code in ((signal.SIGINT, 130), (signal.SIGKILL, -9)):
        setup.api.answered.clear()
        setup.api.hold = hold = threading.Event()
        process = subprocess.Popen(
            [sys.executable, "-m", "callscribe", "backfill", "--config", str(setup.config),
             "--source", "uis", "--since", "2026-11-20", "--until", "2026-11-21", "--again"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
        )  # fmt: skip
        try:
            # The first page is stored; the second request waits on the stand-in.
            wait_for(lambda: len(setup.stored()) >= 2, 60, "the first page stored")
            process.send_signal(signum)
            out, _ = process.communicate(timeout=60)
        finally:
            hold.set()
            process.kill()
        assert process.returncode == code
        if signum == signal.SIGINT:
            assert b"interrupted: run the same command again" in out
    setup.api.hold = None
    assert setup.run("--since", "2026-11-20", "--until", "2026-11-21") == 0
    assert setup.stored() == [str(n) for n in range(3001, 3008)]


async def test_a_call_seen_live_and_backfilled_is_one_call(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(setup.config)
    async with hook_server(settings) as hooks:
        values = call_end_values(3001, record_file_links=[f"{MEDIA}/4001/r1"])
        assert (await notify(hooks.hook("uis"), "call_end", TOKEN, values)).is_success
        code = await asyncio.to_thread(setup.run, "--since", "2026-11-20", "--until", "2026-11-20")
        assert code == 0
        assert "calls: 5 found: 4 new, 1 already known" in capsys.readouterr().out
        live = await notify(hooks.hook("uis"), "lost_call", TOKEN, {"call_session_id": 3003})
        assert live.json() == {"accepted": 0, "duplicates": 1}
        assert [c.event.external_id for c in hooks.calls()].count("3001") == 1
        assert len(hooks.calls()) == 5


def test_the_printed_templates_are_what_uis_is_given(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sources", "uis-template", "uis", "--config", str(setup.config)]
    assert main([*argv, "--url", "https://cs.example.ru/"]) == 0
    out = capsys.readouterr().out
    for event_type in ("Завершение звонка", "Записанный разговор", "Потерянный звонок"):
        assert f"«Тип события»: {event_type}" in out
    assert out.count("URL: https://cs.example.ru/hooks/uis\n") == 3
    assert out.count(f'"callscribe_token":"{TOKEN}"') == 3
    assert '"call_session_id":{{call_session_id}},' in out
    assert '"record_file_links":{{record_file_links}},' in out
    assert main(["sources", "uis-template", "nope", "--config", str(setup.config)]) == 2
    assert "no source 'nope' of type uis" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--source", "nope", "--since", "2026-11-20"], "no source 'nope' in the configuration"),
        (["--source", "archive", "--since", "2026-11-20"], "no source 'archive'"),
        (["--source", "inbox", "--since", "2026-11-20"], "cannot read past calls"),
        (["--source", "uis", "--since", "2026-11-20", "--until", "2099-01-01"], "in the future"),
        (["--source", "uis", "--since", "2026-11-21", "--until", "2026-11-20"], "is after"),
        (["--source", "uis", "--since", "2024-01-01", "--until", "2026-11-20"], "at most 366"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    setup: Setup, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    text = setup.config.read_text()
    inbox = setup.config.parent / "inbox"
    setup.config.write_text(text + f'\n[sources.inbox]\ntype = "directory"\npath = "{inbox}"\n')
    assert main(["backfill", "--config", str(setup.config), *args]) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert err.count("\n") == 1
    assert setup.stored() == []
