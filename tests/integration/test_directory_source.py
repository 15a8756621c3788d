"""The directory source on a real folder, storing into a real SQLite store: FreePBX names
and sidecars give a call its details; nothing about them can lose or double a call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callscribe.connectors.sources.directory import DirectorySource, DirectorySourceConfig
from callscribe.domain import Call, CallEvent, Direction
from callscribe.logmask import mask_phone
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import Ingested

NAME = "in-74950000000-79991234567-20241105-091730-1730780250.107"
MSK = ZoneInfo("Europe/Moscow")
SETTLE = 0.4


def source(inbox: Path, **extra: Any) -> DirectorySource:
    config = DirectorySourceConfig.model_validate(
        {"type": "directory", "path": str(inbox), "settle_seconds": SETTLE,
         "poll_seconds": 0.05, "timezone": "Europe/Moscow", **extra}
    )  # fmt: skip
    return DirectorySource("inbox", config)


def drop(folder: Path, name: str, sidecar: dict[str, Any] | str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.wav"
    path.write_bytes(b"RIFF" + bytes(4000))
    if sidecar is not None:
        text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar, ensure_ascii=False)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def watching(watched: DirectorySource, astore: AsyncStore) -> AsyncIterator[None]:
    """The source's own loop, storing what it emits as the daemon's ingest does."""

    async def emit(event: CallEvent) -> Ingested:
        return await astore.ingest(event)

    task = asyncio.create_task(watched.run(emit))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stored(astore: AsyncStore, count: int = 1, timeout: float = 30.0) -> list[Call]:
    async with asyncio.timeout(timeout):
        while len(calls := await astore.calls()) < count:
            await asyncio.sleep(0.05)
    return calls


async def test_a_freepbx_recording_in_its_dated_folder_becomes_a_call_with_its_details(
    tmp_path: Path, astore: AsyncStore, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "monitor"
    sidecar = {"operator": {"id": "101", "name": "Анна"}, "fields": {"ticket": 512}}
    drop(inbox / "2024" / "11" / "05", NAME, sidecar)
    with caplog.at_level(logging.WARNING):
        async with watching(source(inbox, recursive=True), astore):
            (call,) = await stored(astore)
    event = call.event
    assert event.external_id.startswith(f"2024/11/05/{NAME}.wav@4004:")
    assert event.direction is Direction.INBOUND
    assert (event.client_number, event.line_number) == ("79991234567", "74950000000")
    assert (event.operator_id, event.operator_name) == ("101", "Анна")
    assert event.started_at == datetime(2024, 11, 5, 9, 17, 30, tzinfo=MSK)
    assert event.started_at.astimezone(UTC).hour == 6
    assert event.ended_at is not None
    assert event.raw["fields"] == {"ticket": 512}
    assert event.raw["recording_name"]["uniqueid"] == "1730780250.107"
    assert event.raw["file"] == f"2024/11/05/{NAME}.wav"
    assert caplog.records == []


async def test_the_sidecar_wins_where_both_say(tmp_path: Path, astore: AsyncStore) -> None:
    sidecar = {
        "direction": "outbound",
        "client_number": "+79990000000",
        "started_at": "2024-11-05T09:17:00+03:00",
    }
    drop(tmp_path, NAME, sidecar)
    async with watching(source(tmp_path), astore):
        (call,) = await stored(astore)
    event = call.event
    assert event.direction is Direction.OUTBOUND
    assert event.client_number == "+79990000000"
    assert event.line_number == "74950000000"  # from the name: the sidecar does not say
    assert event.started_at == datetime(2024, 11, 5, 9, 17, tzinfo=MSK)


def test_a_sidecar_written_within_the_settle_time_is_waited_for(tmp_path: Path) -> None:
    watched = source(tmp_path)
    recording = drop(tmp_path, NAME)
    assert watched.scan(now=0.0) == []
    assert watched.scan(now=SETTLE * 0.75) == []
    (tmp_path / f"{NAME}.json").write_text('{"operator": {"id": "7"}}')
    # The recording alone would be complete now; its sidecar has just come.
    assert watched.scan(now=SETTLE * 1.1) == []
    assert watched.scan(now=SETTLE * 2.0) == []
    (found,) = watched.scan(now=SETTLE * 2.2)
    assert found.event.operator_id == "7"
    assert found.event.recordings[0].location == str(recording)


async def test_a_sidecar_that_comes_after_its_call_never_makes_a_second_call(
    tmp_path: Path, astore: AsyncStore, caplog: pytest.LogCaptureFixture
) -> None:
    drop(tmp_path, "not-a-freepbx-name")
    with caplog.at_level(logging.WARNING):
        async with watching(source(tmp_path), astore):
            (first,) = await stored(astore)
            (tmp_path / "not-a-freepbx-name.json").write_text('{"operator": {"id": "7"}}')
            await asyncio.sleep(SETTLE * 3)
        # The daemon restarts: a new source scans the folder again, sidecar and all.
        restarted = source(tmp_path)
        async with watching(restarted, astore):
            async with asyncio.timeout(30):
                while not restarted._emitted:
                    await asyncio.sleep(0.05)
    calls = await astore.calls()
    assert [c.id for c in calls] == [first.id]
    assert calls[0].event.operator_id is None  # the call stays as it was first stored
    # Its unreadable name was said once, not again at the restart.
    assert len([r for r in caplog.records if "not-a-freepbx-name.wav" in r.getMessage()]) == 1


async def test_an_unreadable_name_and_sidecar_give_a_call_and_one_line_saying_why(
    tmp_path: Path, astore: AsyncStore, caplog: pytest.LogCaptureFixture
) -> None:
    name = "in-74950000000-79991234567-20241399-091730-1730780250.107"
    drop(tmp_path, name, '{"started_at": "2024-11-05 09:17", "operator": {"id": "101"}}')
    with caplog.at_level(logging.WARNING):
        async with watching(source(tmp_path), astore):
            (call,) = await stored(astore)
            await asyncio.sleep(SETTLE)  # time for a second line, if one were coming
    event = call.event
    assert event.started_at is None
    assert event.operator_id == "101"
    assert (event.direction, event.client_number) == (Direction.INBOUND, "79991234567")
    # Masked or not: the daemon's handlers mask numbers, and may be on in this process.
    (line,) = [mask_phone(r.getMessage()) for r in caplog.records]
    assert mask_phone(f"{name}.wav") in line
    assert "time: 20241399-091730 is not a date and time" in line
    assert mask_phone(f"sidecar {name}.json: started_at:") in line
    assert "the call goes on without these details" in line


async def test_a_broken_sidecar_costs_nothing_but_its_details(
    tmp_path: Path, astore: AsyncStore, caplog: pytest.LogCaptureFixture
) -> None:
    drop(tmp_path, NAME, "{truncated")
    with caplog.at_level(logging.WARNING):
        async with watching(source(tmp_path), astore):
            (call,) = await stored(astore)
    assert call.event.client_number == "79991234567"  # the name still speaks
    (line,) = [mask_phone(r.getMessage()) for r in caplog.records]
    assert mask_phone(f"sidecar {NAME}.json: the file is not JSON") in line


async def test_names_can_be_ignored(
    tmp_path: Path, astore: AsyncStore, caplog: pytest.LogCaptureFixture
) -> None:
    drop(tmp_path, "meeting notes")
    drop(tmp_path, NAME)
    with caplog.at_level(logging.WARNING):
        async with watching(source(tmp_path, names="none", direction="outbound"), astore):
            calls = await stored(astore, 2)
    assert {c.event.direction for c in calls} == {Direction.OUTBOUND}
    assert {c.event.client_number for c in calls} == {None}
    assert caplog.records == []


async def test_a_rewritten_recording_is_a_new_call_and_its_details_are_read_again(
    tmp_path: Path, astore: AsyncStore
) -> None:
    path = drop(tmp_path, NAME)
    async with watching(source(tmp_path), astore):
        await stored(astore)
        path.write_bytes(b"RIFF" + bytes(8000))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        calls = await stored(astore, 2)
    assert {c.event.client_number for c in calls} == {"79991234567"}


def test_an_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        DirectorySourceConfig.model_validate(
            {"type": "directory", "path": ".", "timezone": "Mars/Olympus"}
        )
