"""The Mango source against its stand-in (tests/standins/mango.py): recordings through
the signed POST and its single-use link with the shared fetcher, Mango's limits kept
(pacing, 429, the invalid-request block never hit), and past calls from the statistics,
the same calls as the webhooks make."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources.mango import MangoConfig, MangoSource
from callscribe.connectors.spool import FetchedFile
from callscribe.domain import Call, CallEvent, CallState, Direction, RecordingRef
from callscribe.errors import FetchError, SourceError
from callscribe.store.sqlite import SqliteStore
from tests.standins.mango import MangoStandIn, StatsCall, record_added, summary

KEY = "vpbx-code-0123456789"
SALT = "salt-9b1f6c0e2a"
DAY = date(2025, 11, 21)
TEN_AM = 1_763_708_400  # 2025-11-21 10:00 Moscow


def audio(size: int) -> bytes:
    return b"ID3" + os.urandom(size - 3)  # no recording starts with "{"


@dataclass
class Api:
    mango: MangoStandIn
    source: MangoSource
    policy: FetchPolicy
    dest: Path
    fetcher: RecordingFetcher

    async def fetch(self, *recording_ids: str) -> FetchedFile:
        refs = tuple(RecordingRef(f"mango:{rid}") for rid in recording_ids)
        event = CallEvent("mango", "E-1", recordings=refs)
        call = Call(1, event, CallState.RECEIVED, datetime.now(UTC))
        return await self.source.fetch_recording(call, self.fetcher, self.policy, self.dest)

    async def fails(self, *recording_ids: str) -> FetchError:
        with pytest.raises(FetchError) as info:
            await self.fetch(*recording_ids)
        assert not any(self.dest.glob("*")), "a failed fetch left files behind"
        return info.value

    def asked(self) -> int:
        return len(self.mango.seen("queries/recording/post"))

    async def day(self, day: date = DAY) -> list[CallEvent]:
        return [event async for event in self.source.calls_on(day)]


Make = Callable[..., Api]


def daemon_levels(caplog: pytest.LogCaptureFixture) -> None:
    """Everything of callscribe's, and the HTTP libraries at the level the daemon sets
    them to (``logsetup.configure_logging``): they would print every URL they fetch."""
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.DEBUG)  # last: it sets the capturing handler's level too


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Make]:
    with ExitStack() as stack:

        def make(config: dict[str, Any] | None = None, **standin: Any) -> Api:
            mango = stack.enter_context(MangoStandIn(KEY, SALT, **standin))
            settings = MangoConfig.model_validate(
                {
                    "type": "mango",
                    "api_key": KEY,
                    "api_salt": SALT,
                    "api_url": mango.api_url,
                    "allow_http": True,
                    "loopback_ports": [mango.port],
                    "stats_poll_seconds": 0.05,
                    **(config or {}),
                }
            )
            # What Runtime._fetch_policy makes of these settings.
            policy = FetchPolicy(
                schemes={"http", "https"},
                hosts=settings.recording_hosts,
                loopback_ports=settings.loopback_ports,
            )
            dest = tmp_path / f"recordings-{mango.port}"
            return Api(mango, MangoSource("mango", settings), policy, dest, RecordingFetcher())

        yield make


async def test_a_recording_comes_through_its_single_use_link(
    world: Make, caplog: pytest.LogCaptureFixture
) -> None:
    daemon_levels(caplog)
    api = world()
    api.mango.recordings["REC-1"] = data = audio(50_000)
    fetched = await api.fetch("REC-1")
    assert fetched.path.read_bytes() == data
    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    (asked,) = api.mango.seen("queries/recording/post")
    assert asked.payload == {"recording_id": "REC-1", "action": "download"}
    assert asked.status == 302
    (token,) = api.mango.links
    assert api.mango.downloads == [token]
    # The link worked once; it is dead now, and callscribe kept it nowhere.
    second = httpx.get(f"http://127.0.0.1:{api.mango.port}/files/{token}", timeout=10)
    assert second.status_code == 410
    assert token not in caplog.text
    assert token not in str(fetched.path)
    assert f"127.0.0.1:{api.mango.port}/..." in caplog.text  # the host of the link, no more


async def test_the_link_stays_hidden_when_the_file_host_fails(
    world: Make, caplog: pytest.LogCaptureFixture
) -> None:
    daemon_levels(caplog)
    api = world({"invalid_request_pause_seconds": 0})
    api.mango.recordings["REC-1"] = audio(1000)
    api.mango.file_status = 500
    error = await api.fails("REC-1")
    assert error.retryable
    assert api.mango.links
    for token in api.mango.links:
        assert token not in str(error)
        assert token not in caplog.text


@pytest.mark.parametrize(
    ("base", "reason"),
    [
        ("http://10.0.0.7", "10.0.0.7 is not one of this source's recording hosts"),
        ("http://127.0.0.1:9", "127.0.0.1 is a loopback address"),
        ("https://files.mango-office.ru.evil.example", "not one of this source's recording"),
    ],
    ids=["private", "other-local-port", "lookalike"],
)
async def test_a_link_to_somewhere_else_is_refused(
    world: Make, base: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The 302 is followed under the source's policy: Mango's file host and the API host
    only, on the allowed ports; the link stays out of the refusal."""
    daemon_levels(caplog)
    api = world()
    api.mango.recordings["REC-1"] = audio(1000)
    api.mango.link_base = base
    error = await api.fails("REC-1")
    assert reason in str(error)
    assert not error.retryable
    assert api.mango.downloads == []
    for token in api.mango.links:
        assert token not in str(error)
        assert token not in caplog.text


@pytest.mark.parametrize("invalid_status", [200, 400])
async def test_not_ready_is_asked_again_after_a_pause_never_into_the_block(
    world: Make, invalid_status: int
) -> None:
    """The recording is "not found" (3320, an invalid request) for the first two asks;
    Mango blocks its API at a second invalid request within its window."""
    api = world(
        {"invalid_request_pause_seconds": 0.8},
        not_ready_first=2,
        invalid_window=0.6,
        block_seconds=5,
        invalid_status=invalid_status,
    )
    api.mango.recordings["REC-1"] = data = audio(2000)
    first = await api.fails("REC-1")
    assert first.retryable
    assert first.retry_after == pytest.approx(0.8)
    if invalid_status == 200:  # the result code came as JSON where the file should be
        assert "result 3320: recording not found (not stored yet?)" in str(first)
    paused = await api.fails("REC-1")
    assert "no requests to Mango's API for another 1 s" in str(paused)
    assert paused.retryable
    assert paused.retry_after is not None
    assert 0 < paused.retry_after <= 0.8
    assert api.asked() == 1  # the pause kept the second ask at home
    await asyncio.sleep(api.source.api_paused_seconds() + 0.05)
    await api.fails("REC-1")  # still not ready
    await asyncio.sleep(api.source.api_paused_seconds() + 0.05)
    fetched = await api.fetch("REC-1")
    assert fetched.path.read_bytes() == data
    assert api.asked() == 3
    assert api.mango.blocks == 0
    assert [s.status for s in api.mango.seen("queries/recording/post")][-1] == 302


@pytest.mark.parametrize("invalid_status", [200, 400])
async def test_a_refused_request_stops_the_source_instead_of_retrying_into_the_block(
    world: Make, invalid_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    api = world({"api_salt": "not-the-salt"}, invalid_status=invalid_status)
    api.mango.recordings["REC-1"] = audio(1000)
    with caplog.at_level(logging.WARNING):
        first = await api.fails("REC-1")
    assert first.retryable
    assert first.retry_after == 130
    if invalid_status == 200:
        assert "the signature does not match: check api_salt" in str(first)
    assert "Mango refused a request" in caplog.text
    assert "no requests to its API for 130 s" in caplog.text
    assert api.source.api_paused_seconds() > 120
    for _ in range(5):
        again = await api.fails("REC-1")
        assert "no requests to Mango's API for another 1" in str(again)
    assert api.asked() == 1
    assert api.mango.blocks == 0


async def test_a_blocked_api_is_left_alone_for_the_block(world: Make) -> None:
    api = world()
    api.mango.recordings["REC-1"] = audio(1000)
    api.mango.block(60)
    error = await api.fails("REC-1")
    assert "HTTP 401" in str(error)
    assert "blocks its API for 2 minutes" in str(error)
    assert error.retry_after == 130
    await api.fails("REC-1")
    assert api.asked() == 1


async def test_rate_limited_requests_wait_as_asked(world: Make) -> None:
    api = world({"recording_requests_per_second": 9}, max_per_second=1)
    api.mango.recordings |= {"REC-1": audio(1000), "REC-2": audio(1000)}
    results = await asyncio.gather(api.fetch("REC-1"), api.fetch("REC-2"), return_exceptions=True)
    (limited,) = [r for r in results if isinstance(r, FetchError)]
    assert "rate limit exceeded" in str(limited)
    assert limited.retryable
    assert limited.retry_after == 2.0
    assert [s.status for s in api.mango.seen("queries/recording/post")] == [302, 429]
    assert 1 < api.source.api_paused_seconds() <= 2
    assert api.mango.blocks == 0


async def test_downloads_are_paced_under_mangos_ten_a_second(world: Make) -> None:
    api = world({"recording_requests_per_second": 8})
    ids = [f"REC-{n}" for n in range(24)]
    for rid in ids:
        api.mango.recordings[rid] = audio(3000)
    fetched = await asyncio.gather(*(api.fetch(rid) for rid in ids))
    assert len({f.path for f in fetched}) == 24
    times = [s.at for s in api.mango.seen("queries/recording/post")]
    assert len(times) == 24
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 9
    assert all(s.status == 302 for s in api.mango.requests)


async def test_a_transferred_call_keeps_its_longest_recording(world: Make) -> None:
    api = world()
    api.mango.recordings |= {"LEG-1": audio(20_000), "LEG-2": audio(60_000), "LEG-3": audio(100)}
    fetched = await api.fetch("LEG-1", "LEG-2", "LEG-3")
    assert fetched.path.read_bytes() == api.mango.recordings["LEG-2"]
    assert list(api.dest.iterdir()) == [fetched.path]
    assert api.asked() == 3


def _row(entry_id: str, start: int, *, answered: bool = True, **values: str) -> dict[str, str]:
    return {
        "entry_id": entry_id,
        "start": str(start),
        "answer": str(start + 5) if answered else "0",
        "finish": str(start + 17),
        "from_number": "79991234567",
        "to_extension": "101",
        "to_number": "74951234567",
        "line_number": "74950000000",
        "disconnect_reason": "1100",
        **values,
    }


def _history(mango: MangoStandIn) -> None:
    mango.calls = [
        StatsCall(_row("E-1", TEN_AM), ["REC-1"]),
        StatsCall(_row("E-2", TEN_AM + 600, to_extension="102"), ["LEG-1"]),  # a transfer:
        StatsCall(_row("E-2", TEN_AM + 640, to_extension="103"), ["LEG-2"]),  # two legs
        StatsCall(_row("E-3", TEN_AM + 900, answered=False, to_extension="")),
        StatsCall(_row("E-4", TEN_AM + 1200)),  # answered, not recorded
        StatsCall(_row("E-5", TEN_AM + 86_400), ["REC-5"]),  # the next day
        StatsCall(_row("E-6", TEN_AM - 36_001), ["REC-6"]),  # the day before (23:59:59)
        StatsCall(
            _row(
                "E-7",
                TEN_AM + 1500,
                from_extension="101",
                from_number="74951234567",
                to_extension="",
                to_number="79990000000",
            ),
            ["REC-7"],
        ),
    ]


async def test_backfill_reads_a_day_as_the_webhooks_report_it(world: Make) -> None:
    api = world()
    _history(api.mango)
    events = await api.day()
    assert [e.external_id for e in events] == ["E-1", "E-2", "E-3", "E-4", "E-7"]
    first, transfer, missed, unrecorded, outbound = events
    assert transfer.recordings == (RecordingRef("mango:LEG-1"), RecordingRef("mango:LEG-2"))
    assert transfer.operator_id == "102"  # the first leg that answered
    assert transfer.ended_at is not None
    assert transfer.ended_at.timestamp() == TEN_AM + 657
    assert missed.recordings == ()
    assert missed.answered_at is None
    assert unrecorded.recordings == ()
    assert unrecorded.answered_at is not None
    assert outbound.direction is Direction.OUTBOUND
    assert (outbound.client_number, outbound.operator_id) == ("79990000000", "101")

    # The same call as the two webhooks make of it.
    live = _live_call(api.source, "E-1", "REC-1")
    for name in (
        "source", "external_id", "direction", "started_at", "answered_at", "ended_at",
        "client_number", "line_number", "operator_id", "recordings",
    ):  # fmt: skip
        assert getattr(first, name) == getattr(live, name), name
    assert first.started_at is not None
    assert first.started_at.isoformat() == "2025-11-21T10:00:00+03:00"

    (asked,) = api.mango.seen("stats/request")
    midnight = datetime(2025, 11, 21, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    assert asked.payload is not None
    assert (asked.payload["date_from"], asked.payload["date_to"]) == (
        str(int(midnight)),
        str(int(midnight) + 86_399),
    )
    assert asked.payload["fields"].split(", ")[0] == "entry_id"
    assert [s.status for s in api.mango.seen("stats/result")] == [204, 200]


def _live_call(source: MangoSource, entry_id: str, recording_id: str) -> CallEvent:
    parts = {
        "summary": {"json": summary(entry_id), "received_at": 0.0},
        f"record/{recording_id}": {"json": record_added(entry_id, recording_id), "received_at": 0},
    }
    event = source.join(entry_id, parts, waited=1e9)
    assert event is not None
    return event


async def test_backfill_and_webhooks_make_each_call_once(world: Make, tmp_path: Path) -> None:
    api = world()
    _history(api.mango)
    store = SqliteStore(tmp_path / "callscribe.db")
    try:
        assert store.ingest(_live_call(api.source, "E-1", "REC-1")).created
        first = [store.ingest(event).created for event in await api.day()]
        assert first == [False, True, True, True, True]
        again = [store.ingest(event).created for event in await api.day()]  # a rerun
        assert again == [False] * 5
        assert len(store.calls(limit=100)) == 5
    finally:
        store.close()


async def test_backfill_keeps_to_the_statistics_limit(world: Make) -> None:
    """stats/request: once in 2 s.  Asked again too early (here the stand-in wants 3 s),
    the 429 is waited out and the request repeated."""
    api = world(stats_interval=3.0)
    _history(api.mango)
    assert len(await api.day()) == 5
    assert len(await api.day(date(2025, 11, 22))) == 1
    assert [s.status for s in api.mango.seen("stats/request")] == [200, 429, 200]


async def test_backfill_says_why_a_day_cannot_be_read(world: Make) -> None:
    api = world({"stats_timeout_seconds": 0.3}, stats_not_ready=10_000)
    with pytest.raises(
        FetchError, match=r"had not prepared the statistics for 2025-11-21 after 0.3 s"
    ):
        await api.day()

    api = world({"api_salt": "not-the-salt"})
    with pytest.raises(FetchError, match="result 3102: the signature does not match") as info:
        await api.day()
    assert info.value.retry_after == 130
    with pytest.raises(FetchError, match="no requests to Mango's API"):
        await api.day()
    assert len(api.mango.requests) == 1


async def test_rows_that_cannot_be_read_fail_the_day_after_the_others(world: Make) -> None:
    api = world()
    _history(api.mango)
    api.mango.stats_extra_lines = ["garbage", ";;;;;;;;;;"]
    events: list[CallEvent] = []

    async def read() -> None:
        async for event in api.source.calls_on(DAY):
            events.append(event)

    with pytest.raises(SourceError, match=r"2 row\(s\) not read \(line 7: 1 values for 11 fields"):
        await read()
    assert len(events) == 5  # nothing lost: the readable calls came first
