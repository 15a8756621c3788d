"""``callscribe purge`` on a real database and state folder: erasure of a number leaves no
byte of it in the database, its WAL or the state folder (a JSONL archive included), old
calls go by age, and nothing is deleted without being asked (reliability.md R-PII-1,
R-PII-2, R-PII-5)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callscribe.cli import main
from callscribe.config import RenderSettings
from callscribe.config.daemon import DaemonSettings, RetentionSettings
from callscribe.config.settings import Settings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.jsonl import JsonlSink, JsonlSinkConfig
from callscribe.daemon.retention import purge
from callscribe.domain import CallPart, CallState
from callscribe.erasure import scrub_jsonl
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import JobKind
from callscribe.store.sqlite import SqliteStore
from tests.integration.test_retention import add_call, audit_rows
from tests.integration.test_store_sqlite import FakeClock

# The number as the PBXs wrote it: the client field, a vendor's raw field, a file name;
# and the pieces of it searched for in every byte of the state folder.
WRITTEN = ("+79001234567", "8 (900) 123-45-67", "in-79001234567-101-20240501-145900-1714.1")
NEEDLES = (b"9001234567", b"123-45-67", b"(900)")
OTHER = "+79115550011"


@dataclasses.dataclass
class World:
    state: Path
    config: Path
    store: SqliteStore
    ids: dict[str, int]

    def purge(self, *argv: str) -> int:
        return main(["purge", *argv, "--config", str(self.config)])


def _world(tmp_path: Path, clock: FakeClock | None = None) -> World:
    state = tmp_path / "state"
    config = tmp_path / "callscribe.toml"
    archive = state / "archive.jsonl"
    config.write_text(
        f'[daemon]\nstate_dir = {json.dumps(str(state))}\n[sinks.archive]\ntype = "jsonl"\n'
        f"path = {json.dumps(str(archive))}\n",
        "utf-8",
    )
    store = SqliteStore(state / "callscribe.db", **({"clock": clock} if clock else {}))
    rec = state / "recordings"
    ids = {
        "client": add_call(store, rec, 1, "done", sinks=("archive",)),
        "raw": add_call(store, rec, 2, "done", sinks=("archive",), source="uis"),
        "named": add_call(store, rec, 3, "done", sinks=("archive",), source="freepbx"),
        "other": add_call(store, rec, 4, "done", sinks=("archive",), source="mango"),
    }
    edits = {
        "raw": {"$.client_number": None, "$.raw.contact": WRITTEN[1]},
        "named": {"$.client_number": None, "$.external_id": WRITTEN[2] + ".wav"},
        "other": {"$.client_number": OTHER},
    }
    for name, values in edits.items():
        for path, value in values.items():
            store._conn.execute(
                "UPDATE calls SET event = json_set(event, ?, ?) WHERE id = ?",
                (path, value, ids[name]),
            )
    # What the delivery path leaves beside a recording: a silenced copy for a sink.
    for call_id in ids.values():
        (rec / str(call_id) / "recording-redacted-archive.wav").write_bytes(b"RIFF" + bytes(64))
    asyncio.run(_archive(store, archive, list(ids.values())))
    return World(state, config, store, ids)


async def _archive(store: SqliteStore, path: Path, call_ids: list[int]) -> None:
    """The archive sink writes each call's line, as the daemon would have."""
    sink = JsonlSink("archive", JsonlSinkConfig(type="jsonl", path=path), RenderSettings())

    async def save(_: object) -> None:
        return None

    for call_id in call_ids:
        (delivery,) = store.deliveries(call_id)
        context = DeliveryContext(key=delivery.idempotency_key, progress={}, save=save)
        await sink.deliver(store.call(call_id), store.transcript(call_id), context)


def _traces(folder: Path) -> list[str]:
    """Every file in ``folder`` (the database and its WAL included) holding the number."""
    return [
        str(path.relative_to(folder))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and any(needle in path.read_bytes() for needle in NEEDLES)
    ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = _world(tmp_path)
    yield w
    w.store.close()


def test_erasing_a_number_leaves_no_byte_of_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.store.add_call_part(CallPart("uis", "waiting-1", "end", {"from": WRITTEN[0]}))
    assert len(_traces(world.state)) >= 2  # the database or its WAL, and the archive

    code = world.purge("--phone", "8 900 123 45 67", "--yes", "--reason", "request 2026-17")
    out = capsys.readouterr().out

    assert code == 0, out
    mine = sorted(world.ids[name] for name in ("client", "raw", "named"))
    assert f"The number is in 3 call(s): {', '.join(map(str, mine))}" in out
    assert "erased: 3 call(s), 3 recording file(s), 1 notification(s), 3 line(s)" in out
    assert _traces(world.state) == []
    other = world.ids["other"]
    assert world.store.call(other).event.client_number == OTHER
    assert (world.state / "recordings" / str(other)).is_dir()
    assert [c.id for c in world.store.calls()] == [other]
    lines = (world.state / "archive.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["call"]["id"] for line in lines] == [other]
    audit = audit_rows(world.state / "callscribe.db")
    assert {row["reason"] for row in audit} == {"request 2026-17"}
    assert {row["category"] for row in audit} >= {"call", "recording", "transcript", "call_part"}
    assert json.loads(audit[0]["object_ids"]) == mine


def test_a_busy_call_is_left_for_the_next_run(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    call_id = add_call(world.store, world.state / "recordings", 7, "fetched")
    world.store.claim([JobKind.TRANSCRIBE], "daemon", 60.0)  # the service is on it

    code = world.purge("--phone", WRITTEN[0], "--yes")

    assert code == 1
    assert f"left for now: {call_id}" in capsys.readouterr().out
    assert [c.id for c in world.store.calls()] == [call_id, world.ids["other"]]


def test_nothing_is_deleted_without_being_asked(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = world.purge("--phone", WRITTEN[0])
    assert code == 2
    assert "add --yes" in capsys.readouterr().err
    assert len(world.store.calls()) == 4


def test_the_reason_may_not_name_the_number(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.purge("--phone", WRITTEN[0], "--yes", "--reason", "asked by 89001234567") == 2
    assert "personal data" in capsys.readouterr().err


def test_old_calls_go_by_age(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    old = _world(tmp_path, clock)
    try:
        clock.now = datetime.now(UTC)
        recent = add_call(old.store, old.state / "recordings", 8, "done")

        assert old.purge("--older-than", "30d", "--audio-only", "--yes") == 0
        assert "deleted: 4 recording(s)" in capsys.readouterr().out
        assert old.store.call_facts([old.ids["client"]])[old.ids["client"]].recording_purged_at
        assert old.store.transcript(old.ids["client"]) is not None

        assert old.purge("--older-than", "30d", "--yes") == 0
        out = capsys.readouterr().out
        assert "4 call(s) finished before" in out
        assert [c.id for c in old.store.calls()] == [recent]
        assert old.store.call(recent).state is CallState.DONE
    finally:
        old.store.close()


def test_an_archive_line_is_overwritten_in_place(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_text(
        '{"idempotency_key": "a", "n": "89001234567"}\nnot json\n{"idempotency_key": "b"}\n',
        "utf-8",
    )
    inode = archive.stat().st_ino
    assert scrub_jsonl(archive, {"a"}) == 1
    assert archive.read_text("utf-8") == 'not json\n{"idempotency_key": "b"}\n'
    assert archive.stat().st_ino == inode  # the sink's appends go on to the same file
    assert not list(tmp_path.glob("*.callscribe-purge"))


def test_age_and_number_are_checked(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert world.purge("--phone", "101", "--yes") == 2
    assert "not a phone number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        world.purge("--older-than", "a month")


def test_the_database_stays_consistent(world: World) -> None:
    world.purge("--phone", WRITTEN[0], "--yes")
    conn = sqlite3.connect(world.state / "callscribe.db")
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_the_services_retention_erases_old_calls_the_same_way(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    old = _world(tmp_path, clock)
    try:
        clock.now = datetime.now(UTC)
        recent = add_call(old.store, old.state / "recordings", 8, "done", sinks=("archive",))
        settings = Settings(
            daemon=DaemonSettings(state_dir=old.state),
            retention=RetentionSettings(transcript_days=None, call_days=30),
            sinks={"archive": JsonlSinkConfig(type="jsonl", path=old.state / "archive.jsonl")},
        )
        astore = AsyncStore(old.store)
        result = asyncio.run(purge(astore, settings))
        astore._executor.shutdown(wait=True)

        assert result.calls == 4
        assert [c.id for c in old.store.calls()] == [recent]
        assert (old.state / "archive.jsonl").read_text("utf-8") == ""  # their lines too
        assert not any((old.state / "recordings" / str(i)).exists() for i in old.ids.values())
        reasons = {row["reason"] for row in audit_rows(old.state / "callscribe.db")}
        assert "call retention: 30 days after the call" in reasons
    finally:
        old.store.close()
