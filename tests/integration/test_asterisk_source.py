"""The asterisk source against the AMI stand-in on loopback: the captured stream, logins,
refusals, drops, a half-open link, panoramisk 1.4's "successfully queued" crash, oversized
frames, the rights warning, and the calls that end while the link is down."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from panoramisk.actions import Action
from panoramisk.message import Message

from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources.asterisk import AsteriskSource, AsteriskSourceConfig
from callscribe.connectors.sources.asterisk.link import plaintext_warning
from callscribe.domain import Call, CallEvent, CallState, Speaker
from callscribe.errors import FetchError
from tests.standins.asterisk import RECORDINGS, SECRET, AmiServer, captured_messages

REMOTE = "/var/spool/asterisk/monitor"
CALLS = {
    "1795303482.0": "20261121-232442-1795303482.0",
    "1795303485.4": "20261121-232445-1795303485.4",
    "1795303507.8": "20261121-232507-1795303507.8",
    "1795303514.12": "20261121-232514-1795303514.12",
    "1795303532.16": "20261121-232532-1795303532.16",
}


def write_recordings(spool: Path, linkedid: str) -> None:
    """What MixMonitor leaves in the spool for one of the captured calls."""
    for file in RECORDINGS.glob(f"{CALLS[linkedid]}*"):
        shutil.copyfile(file, spool / file.name)


def settings(server: AmiServer, spool: Path, **more: Any) -> AsteriskSourceConfig:
    return AsteriskSourceConfig.model_validate(
        {
            "type": "asterisk",
            "port": server.port,
            "username": "callscribe",
            "secret": SECRET,
            "recordings": [str(spool)],
            "path_map": {REMOTE: str(spool)},
            "ping_seconds": 0.5,
            "ping_timeout_seconds": 2.0,
            "reconnect_min_seconds": 0.1,
            "reconnect_max_seconds": 0.4,
            "login_retry_seconds": 1.5,
            "recording_settle_seconds": 0.3,
            "cdr_wait_seconds": 0.3,
            "recover_hours": 1,
        }
        | more
    )


class Running:
    def __init__(self, source: AsteriskSource) -> None:
        self.source = source
        self.events: dict[str, CallEvent] = {}
        self.emitted = 0

    async def emit(self, event: CallEvent) -> None:
        self.emitted += 1
        self.events.setdefault(event.external_id, event)

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; have {sorted(self.events)}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running(config: AsteriskSourceConfig) -> AsyncIterator[Running]:
    run = Running(AsteriskSource("pbx", config))
    task = asyncio.create_task(run.source.run(run.emit))
    try:
        yield run
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def call(blocking: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(blocking, *args)


@pytest.fixture
def server() -> AmiServer:
    with AmiServer() as ami:
        yield ami


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    folder.mkdir()
    return folder


def as_call(event: CallEvent) -> Call:
    return Call(1, event, CallState.RECEIVED, datetime.now(UTC))


async def test_the_captured_stream_gives_each_call_once_and_reads_its_recording(
    server: AmiServer, spool: Path, tmp_path: Path
) -> None:
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        for linkedid in CALLS:
            write_recordings(spool, linkedid)
        await call(server.send, captured_messages())
        await run.until(lambda: len(run.events) == 5, "five calls")
        await asyncio.sleep(1.0)
        assert run.emitted == 5
        assert run.source.status().ready
        missed = {k for k, e in run.events.items() if not e.recordings}
        assert missed == {"1795303485.4", "1795303507.8"}
        policy = FetchPolicy(local_dirs=(spool,))
        one = await run.source.fetch_recording(
            as_call(run.events["1795303482.0"]), RecordingFetcher(), policy, tmp_path / "1"
        )
        five = await run.source.fetch_recording(
            as_call(run.events["1795303532.16"]), RecordingFetcher(), policy, tmp_path / "5"
        )
    assert sf.info(one.path).channels == 2
    assert sf.info(five.path).channels == 2
    assert run.events["1795303532.16"].recordings[0].channels == (Speaker.CLIENT, Speaker.OPERATOR)
    # R-AMI-4: the MD5 challenge, then the login, and nothing before it.
    assert [a["action"] for a in server.actions[:2]] == ["Challenge", "Login"]
    assert "secret" not in server.actions[1]
    assert server.before_login == []


async def test_a_recording_still_being_written_is_waited_for(
    server: AmiServer, spool: Path, tmp_path: Path
) -> None:
    config = settings(server, spool, recording_settle_seconds=0.5)
    source = AsteriskSource("pbx", config)
    base = CALLS["1795303532.16"]
    event = CallEvent(
        "pbx",
        "x",
        ended_at=datetime.now(UTC),
        raw={"recording": {"mixed": f"{REMOTE}/{base}-stereo.raw", "interleaved": True}},
    )
    data = (RECORDINGS / f"{base}-stereo.raw").read_bytes()
    target = spool / f"{base}-stereo.raw"

    async def asterisk_writes() -> None:
        for start in range(0, len(data), 64000):
            with target.open("ab") as out:
                out.write(data[start : start + 64000])
            await asyncio.sleep(0.2)

    writer = asyncio.create_task(asterisk_writes())
    fetched = await source.fetch_recording(
        as_call(event), RecordingFetcher(), FetchPolicy(), tmp_path / "out"
    )
    assert writer.done()
    assert fetched.size == 44 + len(data)


async def test_a_recording_that_never_completes_fails_with_the_reason(
    server: AmiServer, spool: Path, tmp_path: Path
) -> None:
    source = AsteriskSource("pbx", settings(server, spool, recording_wait_seconds=0.5))
    event = CallEvent(
        "pbx", "x", ended_at=datetime.now(UTC), raw={"recording": {"mixed": f"{REMOTE}/gone.wav"}}
    )
    with pytest.raises(FetchError, match=r"no such file.*after the call ended") as caught:
        await source.fetch_recording(as_call(event), RecordingFetcher(), FetchPolicy(), tmp_path)
    assert not caught.value.retryable


async def test_plain_login_sends_the_secret(server: AmiServer, spool: Path) -> None:
    async with running(settings(server, spool, auth="plain")):
        await call(server.wait_logins, 1)
    assert server.actions[0]["secret"] == SECRET


async def test_a_refused_login_backs_off_to_one_try_per_interval(
    server: AmiServer, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.refuse_login = True
    async with running(settings(server, spool)) as run:
        await run.until(lambda: server.refused >= 5, "five refused logins", timeout=30)
        assert run.source.status().state == "login refused"
        assert not run.source.status().ready
        server.refuse_login = False
        await call(server.wait_logins, 1)
        await run.until(lambda: run.source.status().ready, "connected")
    times = [a["_at"] for a in server.actions if a["action"] == "Login"]
    gaps = np.diff(times)
    assert all(gap >= 1.5 for gap in gaps[3:]), gaps  # after three refusals, one per interval
    refusals = [r for r in caplog.records if "login refused" in r.getMessage()]
    assert len(refusals) >= 5  # one line per attempt


async def test_a_dropped_link_reconnects_and_the_calls_that_ended_meanwhile_are_recovered(
    server: AmiServer, spool: Path
) -> None:
    messages = captured_messages()
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        await call(server.send, messages[:131])  # call 1 bridged, call 2 ringing
        await asyncio.sleep(0.5)
        await call(server.drop)
        # While nobody listens: calls 1 and 2 end, call 3 rings and is abandoned.
        for linkedid in ("1795303482.0", "1795303485.4", "1795303507.8"):
            write_recordings(spool, linkedid)
        await call(server.wait_logins, 2)
        await run.until(lambda: len(run.events) == 3, "three recovered calls")
        await call(server.send, messages[272:])  # calls 4 and 5, live
        write_recordings(spool, "1795303514.12")
        write_recordings(spool, "1795303532.16")
        await run.until(lambda: len(run.events) == 5, "five calls")
    one, two, three = (run.events[k] for k in ("1795303482.0", "1795303485.4", "1795303507.8"))
    assert one.client_number == "+79161234567"  # what was heard before the drop is kept
    assert one.operator_id == "op-normal"
    assert one.recordings[0].channels == (Speaker.OPERATOR, Speaker.CLIENT)
    assert two.client_number is not None
    assert two.recordings == ()
    assert three.recordings == ()  # only its header-only files were left
    assert three.raw["recovered"] == "files"
    assert run.emitted == 5


@pytest.mark.parametrize("files_before_reconnect", [True, False])
async def test_a_call_that_began_while_the_link_was_down_finds_its_recording(
    server: AmiServer, spool: Path, files_before_reconnect: bool
) -> None:
    messages = captured_messages()
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        await call(server.drop)
        if files_before_reconnect:
            write_recordings(spool, "1795303482.0")
        await call(server.wait_logins, 2)
        await call(server.send, messages[130:197])  # call 1 from its bridge on: no MixMonitor line
        if not files_before_reconnect:
            write_recordings(spool, "1795303482.0")
        await run.until(lambda: "1795303482.0" in run.events, "call 1")
    one = run.events["1795303482.0"]
    assert one.raw["partial"] is True
    assert one.recordings[0].channels == (Speaker.OPERATOR, Speaker.CLIENT)  # its leg files
    assert one.client_number == "+79161234567"


async def test_a_silent_link_is_dropped_by_the_watchdog(server: AmiServer, spool: Path) -> None:
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        await call(server.stall)
        stalled = time.monotonic()
        await call(server.wait_logins, 2)
        took = time.monotonic() - stalled
        assert run.source.status().connects == 2
    assert 1.5 < took < 2.0 + 4.0  # ping_timeout_seconds = 2


async def test_successfully_queued_answers_do_not_take_the_link_down(
    server: AmiServer, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.ping_message = "Originate successfully queued"
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        await asyncio.sleep(3.0)  # six Pings answered the way panoramisk 1.4 chokes on
        await call(server.send, captured_messages())
        await run.until(lambda: len(run.events) == 5, "five calls")
        assert server.logins == 1
        assert server.closed == 0
    assert any("KeyError" in r.getMessage() for r in caplog.records)


async def test_stock_panoramisk_raises_on_successfully_queued() -> None:
    """Why the guard above exists (panoramisk issues #90, #97)."""
    action = Action({"Action": "Ping"})
    with pytest.raises(KeyError):
        action.add_message(
            Message({"Response": "Success", "Message": "Originate successfully queued"})
        )


async def test_an_oversized_frame_drops_the_link_and_it_comes_back(
    server: AmiServer, spool: Path
) -> None:
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        await call(server.send, [b"Event: Junk\r\nJunk: " + b"x" * 70_000])
        await call(server.wait_logins, 2)
        await call(server.send, captured_messages())
        await run.until(lambda: len(run.events) == 5, "five calls")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a PBX admin makes one for AMI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "ami.crt", folder / "ami.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=pbx", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_ami_over_tls_checks_the_certificate(
    spool: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with AmiServer(tls=context) as server:
        async with running(settings(server, spool, tls=True, tls_ca=str(cert))) as run:
            await call(server.wait_logins, 1)
            await call(server.send, captured_messages())
            await run.until(lambda: len(run.events) == 5, "five calls")
        untrusted = settings(server, spool, tls=True)  # the system's CAs do not know it
        async with running(untrusted) as run:
            await run.until(
                lambda: "CERTIFICATE_VERIFY_FAILED" in (run.source.link.status.last_error or ""),
                "refusal",
            )
            assert not run.source.status().ready
        assert server.logins == 1


def test_plaintext_off_loopback_is_warned_about(spool: Path) -> None:
    def warning(**more: Any) -> str | None:
        return plaintext_warning(AsteriskSourceConfig.model_validate(
            {"type": "asterisk", "username": "u", "secret": "s", "recordings": [str(spool)]} | more
        ))  # fmt: skip

    assert warning() is None
    assert warning(host="10.1.2.3", tls=True) is None
    assert "without TLS" in (warning(host="10.1.2.3") or "")
    assert "and the secret" in (warning(host="pbx.lan", auth="plain") or "")


async def test_a_user_with_write_rights_is_warned_about(
    server: AmiServer, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.write_rights = True
    with caplog.at_level(logging.WARNING):
        async with running(settings(server, spool)) as run:
            await call(server.wait_logins, 1)
            await run.until(
                lambda: any("Command and Originate" in r.getMessage() for r in caplog.records),
                "the warning",
            )


async def test_missed_calls_of_the_gap_come_from_the_cdr_file(
    server: AmiServer, spool: Path, tmp_path: Path
) -> None:
    now = datetime.now().astimezone()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    csv = tmp_path / "Master.csv"
    csv.write_text(
        f'"","+79031112233","100","from-trunk","""Client"" <+79031112233>","PJSIP/trunk-00000001",'
        f'"PJSIP/101-00000002","Dial","PJSIP/101,20","{stamp}","","{stamp}","20","0","NO ANSWER",'
        f'"DOCUMENTATION","1700009999.1",""\n'
        f'"","+79031112233","100","from-trunk","","Local/100@from-queue-00000003;2","","Dial","",'
        f'"{stamp}","","{stamp}","20","0","NO ANSWER","DOCUMENTATION","1700009999.3",""\n'
    )
    async with running(settings(server, spool, cdr_csv=str(csv))) as run:
        await call(server.wait_logins, 1)
        await run.until(lambda: len(run.events) == 1, "the missed call")
    (missed,) = run.events.values()
    assert missed.external_id == "1700009999.1"
    assert missed.client_number == "+79031112233"
    assert missed.operator_id == "101"
    assert missed.recordings == ()
    assert missed.raw["recovered"] == "cdr"


async def watch_lag(lags: list[float]) -> None:
    """How long the event loop was held between two turns of a 10 ms sleep: the loop
    thread's own CPU time, so the machine being busy with other processes (two shared
    cores) does not count, while a handler that computes for long does."""
    while True:
        started = time.thread_time()
        await asyncio.sleep(0.01)
        lags.append(time.thread_time() - started)


def renamed(data: bytes, copy: int) -> bytes:
    """The captured calls again, with other Uniqueids (same length, so same framing)."""
    return data.replace(b"1795303", f"17{copy:05d}".encode())


def copy_recordings(spool: Path, copy: int) -> None:
    for file in RECORDINGS.iterdir():
        shutil.copyfile(file, spool / renamed(file.name.encode(), copy).decode())


async def test_many_drops_while_streaming_lose_no_call_and_never_block_the_loop(
    server: AmiServer, spool: Path
) -> None:
    """R-AMI-2 in small: 20 replays of the capture (about 10,000 messages, 100 calls), the
    link dropped in the middle of 10 of them; the rest of those replays happens while
    nobody listens.  Every call arrives exactly once and the loop never lags 100 ms."""
    messages = captured_messages()
    lags: list[float] = []

    watcher = asyncio.create_task(watch_lag(lags))
    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        for copy in range(20):
            await asyncio.to_thread(copy_recordings, spool, copy)
            stream = [renamed(m, copy) for m in messages]
            if copy % 2:
                await call(server.send, stream[: 60 + copy * 10])
                await asyncio.sleep(0.1)
                await call(server.drop)
                await call(server.wait_logins, server.logins + 1)
            else:
                await call(server.send, stream)
        await run.until(lambda: len(run.events) == 100, "a hundred calls", timeout=60)
        await asyncio.sleep(1.0)
    watcher.cancel()
    assert run.emitted == 100
    assert server.logins == 11
    answered = [e for e in run.events.values() if e.recordings]
    assert len(answered) == 60
    assert max(lags) < 0.1, f"the event loop lagged {max(lags) * 1000:.0f} ms"


async def test_a_burst_of_ten_thousand_messages_is_worked_off_without_blocking(
    server: AmiServer, spool: Path
) -> None:
    messages = captured_messages()
    burst = [renamed(m, copy) for copy in range(20) for m in messages]
    lags: list[float] = []

    async with running(settings(server, spool)) as run:
        await call(server.wait_logins, 1)
        watcher = asyncio.create_task(watch_lag(lags))
        await call(server.send, burst)
        await run.until(lambda: len(run.events) == 100, "a hundred calls", timeout=60)
        watcher.cancel()
        assert server.logins == 1
    assert max(lags) < 0.1, f"the event loop lagged {max(lags) * 1000:.0f} ms"


async def test_a_followed_call_whose_end_was_lost_is_closed_by_its_cdr_row(
    server: AmiServer, spool: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "Master.csv"
    async with running(settings(server, spool, cdr_csv=str(csv))) as run:
        await call(server.wait_logins, 1)
        await call(server.send, captured_messages()[73:128])  # call 2 rings the operator
        await asyncio.sleep(0.5)
        await call(server.drop)
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        csv.write_text(  # ... and nobody answers; no recording was ever written
            f'"","+79031112233","s","lab-inbound","","Local/cl-wait@lab-client-00000002;1",'
            f'"Local/op-noanswer@lab-operator-00000003;1","Dial","","{stamp}","","{stamp}",'
            f'"20","0","NO ANSWER","DOCUMENTATION","1795303485.4",""\n'
        )
        await call(server.wait_logins, 2)
        await run.until(lambda: "1795303485.4" in run.events, "call 2")
    two = run.events["1795303485.4"]
    assert two.raw["recovered"] == "cdr"
    assert two.client_number == "+79031112233"  # from AMI, heard before the drop
    assert two.operator_id == "op-noanswer"
    assert two.recordings == ()
