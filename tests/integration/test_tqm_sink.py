"""The TQM sink against a stand-in of T-Bank's import API: auth, multipart, fields and
their limits, failures with x-correlation-id, and the operator on the left channel
checked by listening to what was uploaded."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.pacing import Pacer
from callscribe.connectors.sinks.tqm import TqmSink
from callscribe.connectors.sinks.tqm_config import TqmSinkConfig
from callscribe.domain import (
    Call,
    CallEvent,
    CallState,
    Direction,
    RecordingRef,
    Speaker,
    Transcript,
)
from callscribe.errors import SinkError
from tests.samples import SAMPLES
from tests.standins.tqm import PATH, TqmServer, likeness

KEY = "UuMlW1BUJzVsUM7Q"
OPERATOR_FIRST = (Speaker.OPERATOR, Speaker.CLIENT)
CLIENT_FIRST = (Speaker.CLIENT, Speaker.OPERATOR)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of a sample call as the PBX recorded it (operator left) and swapped (client
    left, as Asterisk's MixMonitor D option writes it), plus a mono copy."""
    folder = tmp_path_factory.mktemp("tqm")
    audio, rate = sf.read(SAMPLES / "call-public-00.wav", dtype="int16")
    audio = audio[: 12 * rate]
    sf.write(folder / "operator-left.wav", audio, rate, subtype="PCM_16")
    sf.write(folder / "client-left.wav", audio[:, ::-1], rate, subtype="PCM_16")
    sf.write(folder / "mono.wav", audio[:, 0], rate, subtype="PCM_16")
    return folder


@pytest.fixture
def tqm() -> Iterator[TqmServer]:
    with TqmServer(KEY) as server:
        yield server  # type: ignore[misc]


def sink(server: TqmServer, **settings: Any) -> TqmSink:
    config = TqmSinkConfig.model_validate(
        {"type": "tqm", "url": f"{server.url}{PATH}", "access_key": KEY, "requests_per_second": 50}
        | settings
    )
    return TqmSink("tqm", config, RenderSettings())


def call(external_id: str = "mango-1718000000.42", **changes: Any) -> Call:
    fields: dict[str, Any] = {
        "direction": Direction.INBOUND,
        "started_at": datetime(2026, 1, 15, 7, 0, 0, tzinfo=UTC),
        "answered_at": datetime(2026, 1, 15, 7, 0, 5, tzinfo=UTC),
        "ended_at": datetime(2026, 1, 15, 7, 0, 17, tzinfo=UTC),
        "client_number": "+79991234567",
        "operator_id": "group-7",
        "recordings": (RecordingRef("https://pbx.example/r.wav"),),
    } | changes
    event = CallEvent("mango", external_id, **fields)
    return Call(1, event, CallState.TRANSCRIBED, datetime(2026, 1, 15, 7, 1, tzinfo=UTC))


def transcript(seconds: float = 12.0) -> Transcript:
    return Transcript(segments=(), duration=seconds, language="ru", model="base")


def context(
    recording: Path | None,
    channels: tuple[Speaker, Speaker] = OPERATOR_FIRST,
    url: str | None = None,
) -> DeliveryContext:
    async def save(_: Mapping[str, Any]) -> None:
        return None

    return DeliveryContext("cs1-key", {}, save, recording, url, channels)


@pytest.mark.parametrize(
    ("file", "channels"),
    [("operator-left.wav", OPERATOR_FIRST), ("client-left.wav", CLIENT_FIRST)],
)
async def test_the_operator_is_on_the_left_whatever_side_the_pbx_recorded(
    tqm: TqmServer, recordings: Path, file: str, channels: tuple[Speaker, Speaker]
) -> None:
    tqm_sink = sink(tqm)
    try:
        remote = await tqm_sink.deliver(call(), transcript(), context(recordings / file, channels))
    finally:
        await tqm_sink.aclose()
    assert remote == "mango-1718000000.42"
    (imported,) = tqm.imported("mango-1718000000.42")
    assert imported.form == "file"
    assert imported.kbps == 64
    assert imported.content_type == "audio/mpeg"
    assert imported.file_name == "mango-1718000000.42.mp3"
    assert imported.audio is not None
    source, rate = sf.read(recordings / "operator-left.wav", dtype="float32")
    operator, client = source[:, 0], source[:, 1]
    left, right = imported.audio[:, 0], imported.audio[:, 1]
    assert likeness(left, imported.rate, operator, rate) > 0.8
    assert likeness(right, imported.rate, client, rate) > 0.8
    assert likeness(left, imported.rate, client, rate) < 0.3
    assert abs(len(left) / imported.rate - 12.0) < 0.2


async def test_every_field_of_the_seed_flow_is_sent(tqm: TqmServer, recordings: Path) -> None:
    tqm_sink = sink(tqm)
    try:
        await tqm_sink.deliver(call(), transcript(), context(recordings / "operator-left.wav"))
    finally:
        await tqm_sink.aclose()
    (imported,) = tqm.imported("mango-1718000000.42")
    assert imported.value == {
        "Id": "mango-1718000000.42",
        "CallDirection": "inbound",
        "StartDate": "2026-01-15T10:00:00",  # Moscow time, no offset
        "EndDate": "2026-01-15T10:00:17",
        "HangupSide": "client",
        "OperatorId": "group-7",
        "OperatorChannel": "left",
        "ClientPhone": "+79991234567",
    }


async def test_field_names_and_values_are_configurable(tqm: TqmServer, recordings: Path) -> None:
    tqm_sink = sink(
        tqm,
        hangup_side_key="",
        client_phone_key="clientPhone",
        client_phone="{call.client_number|phone_8}",
        operator_id="{raw.last_group}",
        time_zone="Asia/Yekaterinburg",
    )
    try:
        await tqm_sink.deliver(
            call(raw={"last_group": "Продажи"}),
            transcript(),
            context(recordings / "operator-left.wav"),
        )
    finally:
        await tqm_sink.aclose()
    (imported,) = tqm.imported("mango-1718000000.42")
    assert "HangupSide" not in imported.value
    assert imported.value["clientPhone"] == "89991234567"
    assert imported.value["OperatorId"] == "Продажи"
    assert imported.value["StartDate"] == "2026-01-15T12:00:00"


async def test_a_long_id_becomes_a_stable_digest_and_dates_never_lie_in_the_future(
    tqm: TqmServer, recordings: Path
) -> None:
    long_id = "asterisk-" + "1718000000.4242-" * 4
    soon = datetime.now(UTC) + timedelta(minutes=10)  # a PBX clock running ahead
    tqm_sink = sink(tqm)
    try:
        for _ in range(2):
            await tqm_sink.deliver(
                call(
                    long_id,
                    started_at=soon - timedelta(seconds=12),
                    answered_at=None,
                    ended_at=soon,
                ),
                transcript(),
                context(recordings / "operator-left.wav"),
            )
    finally:
        await tqm_sink.aclose()
    first, second = tqm.imports
    assert len(first.value["Id"]) == 32
    assert first.value["Id"] == second.value["Id"]
    assert first.value["EndDate"] <= datetime.now(UTC).astimezone(
        tqm_sink.config.time_zone
    ).strftime("%Y-%m-%dT%H:%M:%S")


async def test_a_failure_is_retried_and_keeps_the_correlation_id(
    tqm: TqmServer, recordings: Path
) -> None:
    tqm.answers = [500]
    tqm_sink = sink(tqm)
    try:
        with pytest.raises(SinkError) as failed:
            await tqm_sink.deliver(call(), transcript(), context(recordings / "operator-left.wav"))
        await tqm_sink.deliver(call(), transcript(), context(recordings / "operator-left.wav"))
    finally:
        await tqm_sink.aclose()
    assert failed.value.retryable
    assert tqm.correlation_ids[0] in str(failed.value)
    assert "500" in str(failed.value)
    assert len(tqm.imported("mango-1718000000.42")) == 1


@pytest.mark.parametrize("status", [400, 401, 429])
async def test_any_answer_but_200_is_not_imported_and_retried(
    tqm: TqmServer, recordings: Path, status: int
) -> None:
    tqm.answers = [status]
    tqm_sink = sink(tqm)
    try:
        with pytest.raises(SinkError) as failed:
            await tqm_sink.deliver(call(), transcript(), context(recordings / "operator-left.wav"))
    finally:
        await tqm_sink.aclose()
    assert failed.value.retryable
    assert failed.value.retry_after == (1.0 if status == 429 else None)
    assert "not imported" in str(failed.value)


async def test_a_wrong_key_is_refused_by_tqm(tqm: TqmServer, recordings: Path) -> None:
    config = TqmSinkConfig.model_validate(
        {"type": "tqm", "url": f"{tqm.url}{PATH}", "access_key": "wrong-key"}
    )
    tqm_sink = TqmSink("tqm", config, RenderSettings())
    try:
        with pytest.raises(SinkError, match="401"):
            await tqm_sink.deliver(call(), transcript(), context(recordings / "operator-left.wav"))
    finally:
        await tqm_sink.aclose()
    assert tqm.imports == []


async def test_a_call_over_an_hour_is_a_dead_letter_before_any_upload(
    tqm: TqmServer, recordings: Path
) -> None:
    tqm_sink = sink(tqm)
    try:
        with pytest.raises(SinkError, match="up to 60 min") as failed:
            await tqm_sink.deliver(
                call(), transcript(3700.0), context(recordings / "operator-left.wav")
            )
    finally:
        await tqm_sink.aclose()
    assert not failed.value.retryable
    assert tqm.correlation_ids == []  # nothing was sent


async def test_a_mono_recording_is_refused_unless_asked_to_fill_both_channels(
    tqm: TqmServer, recordings: Path
) -> None:
    refusing, filling = sink(tqm), sink(tqm, mono_recordings="both_channels", audio_format="wav")
    try:
        with pytest.raises(SinkError, match="mono") as failed:
            await refusing.deliver(call(), transcript(), context(recordings / "mono.wav"))
        await filling.deliver(call(), transcript(), context(recordings / "mono.wav"))
    finally:
        await refusing.aclose()
        await filling.aclose()
    assert not failed.value.retryable
    (imported,) = tqm.imports
    assert imported.content_type == "audio/wav"
    assert imported.kbps is None
    assert imported.audio is not None
    assert np.array_equal(imported.audio[:, 0], imported.audio[:, 1])


async def test_a_link_is_sent_instead_of_the_file_only_when_the_operator_is_left(
    tqm: TqmServer, recordings: Path
) -> None:
    link = "https://records.example/r/1.mp3"
    tqm_sink = sink(tqm)
    try:
        await tqm_sink.deliver(
            call("a"), transcript(), context(recordings / "operator-left.wav", url=link)
        )
        await tqm_sink.deliver(
            call("b"), transcript(), context(recordings / "client-left.wav", CLIENT_FIRST, url=link)
        )
    finally:
        await tqm_sink.aclose()
    (by_link,) = tqm.imported("a")
    (by_file,) = tqm.imported("b")
    assert by_link.form == "link"
    assert by_link.value["FileLink"] == link
    assert by_link.value["OperatorChannel"] == "left"
    assert by_file.form == "file"
    assert "FileLink" not in by_file.value


async def test_a_missed_call_or_a_lost_recording_is_a_dead_letter_saying_why(
    tqm: TqmServer,
) -> None:
    tqm_sink = sink(tqm, upload="file")
    try:
        with pytest.raises(SinkError, match="no recording"):
            await tqm_sink.deliver(call(recordings=()), None, context(None))
        with pytest.raises(SinkError, match="no longer kept"):
            await tqm_sink.deliver(call(), transcript(), context(None, url="https://x.example/r"))
    finally:
        await tqm_sink.aclose()
    assert tqm.correlation_ids == []


async def test_requests_are_spaced_evenly() -> None:
    pacer = Pacer(per_second=20.0)
    started = time.monotonic()
    for _ in range(6):
        await pacer.wait()
    assert time.monotonic() - started >= 5 / 20.0 - 0.01
