"""Calls assembled from AMI events: the captured Asterisk 22 stream, and streams written
in the same format for what the capture does not show (FreePBX contexts, an outbound call,
a queue, a transfer, two calls interleaved, a Cdr after the wait, a call whose start was
missed, a call whose hangup was lost)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from callscribe.connectors.sources.asterisk.calls import CallAssembler, Settings
from callscribe.connectors.sources.asterisk.config import FREEPBX_INBOUND, FREEPBX_INTERNAL
from callscribe.connectors.sources.asterisk.direction import DirectionRules, peer_of
from callscribe.connectors.sources.asterisk.framing import FrameReader
from callscribe.connectors.sources.asterisk.report import call_event
from callscribe.domain import CallEvent, Direction, Speaker
from tests.standins.asterisk import CAPTURE, Channel, cdr, event, mixmonitor, varset

MONITOR = "/var/spool/asterisk/monitor"
RULES = DirectionRules(frozenset(FREEPBX_INBOUND), frozenset(FREEPBX_INTERNAL), 5)
T0 = datetime(2026, 11, 21, 23, 24, 42, tzinfo=UTC)


def assembler(cdr_wait: float = 2.0, stale_after: float = 3600.0) -> CallAssembler:
    return CallAssembler(Settings(MONITOR, ("-rx", "-tx"), True, cdr_wait, stale_after))


class Clock:
    """Each message arrives ``step`` seconds after the one before."""

    def __init__(self, step: float = 0.2) -> None:
        self.step, self.mono = step, 0.0

    def feed(self, calls: CallAssembler, data: Iterable[bytes] | bytes) -> None:
        stream = data if isinstance(data, bytes) else b"".join(data)
        for headers in FrameReader().feed(stream):
            self.mono += self.step
            calls.handle(Message(headers), T0 + timedelta(seconds=self.mono), self.mono)

    def wait(self, seconds: float) -> None:
        self.mono += seconds


def events(calls: CallAssembler, mono: float) -> dict[str, CallEvent]:
    found = {}
    for call in calls.due(mono):
        reported = call_event("pbx", call, RULES)
        if reported is not None:
            found[reported.external_id] = reported
    return found


@pytest.fixture(scope="module")
def captured() -> dict[str, CallEvent]:
    calls, clock = assembler(), Clock()
    clock.feed(calls, CAPTURE.read_bytes())
    return events(calls, clock.mono + 10)


def test_each_captured_call_is_one_event(captured: dict[str, CallEvent]) -> None:
    assert sorted(captured) == [
        "1795303482.0",
        "1795303485.4",
        "1795303507.8",
        "1795303514.12",
        "1795303532.16",
    ]
    assert all(e.direction is Direction.INBOUND for e in captured.values())


def test_the_answered_call_has_its_client_operator_talk_time_and_leg_files(
    captured: dict[str, CallEvent],
) -> None:
    call = captured["1795303482.0"]
    assert call.client_number == "+79161234567"
    assert call.operator_id == "op-normal"
    assert call.answered_at is not None
    assert call.talk_seconds is not None
    assert 10 < call.talk_seconds < 40  # 0.2 s per message in this replay
    assert call.raw["dial_status"] == "ANSWER"
    assert len(call.raw["cdr"]) == 3  # two came before the last Hangup, one after
    (recording,) = call.recordings
    assert recording.channels == (Speaker.OPERATOR, Speaker.CLIENT)  # legs, combined so
    assert call.raw["recording"] == {
        "mixed": f"{MONITOR}/20261121-232442-1795303482.0.wav",
        "read": f"{MONITOR}/20261121-232442-1795303482.0-rx.wav",
        "write": f"{MONITOR}/20261121-232442-1795303482.0-tx.wav",
        "interleaved": False,
        "recorded_side": "client",
    }


@pytest.mark.parametrize(
    ("linkedid", "status"), [("1795303485.4", "NOANSWER"), ("1795303507.8", "CANCEL")]
)
def test_missed_and_abandoned_calls_carry_no_recording(
    captured: dict[str, CallEvent], linkedid: str, status: str
) -> None:
    call = captured[linkedid]
    assert call.answered_at is None
    assert call.recordings == ()
    assert "recording" not in call.raw
    assert call.raw["dial_status"] == status
    assert call.client_number is not None


def test_the_stereo_d_call_puts_the_client_on_the_left(captured: dict[str, CallEvent]) -> None:
    call = captured["1795303532.16"]
    (recording,) = call.recordings
    assert recording.location == f"{MONITOR}/20261121-232532-1795303532.16-stereo.raw"
    assert recording.channels == (Speaker.CLIENT, Speaker.OPERATOR)
    assert call.raw["recording"]["interleaved"] is True


def test_the_client_who_hung_up_early_still_gives_an_answered_recorded_call(
    captured: dict[str, CallEvent],
) -> None:
    call = captured["1795303514.12"]
    assert call.client_number == "+79269876543"
    assert call.recordings


def test_a_call_waits_for_its_late_cdr_before_it_is_handed_over() -> None:
    calls, clock = assembler(cdr_wait=2.0), Clock(step=0.01)
    data = CAPTURE.read_bytes()
    cut = data.rindex(b"Event: Cdr")  # the last Cdr, after the call's last Hangup
    clock.feed(calls, data[:cut])
    assert "1795303532.16" not in events(calls, clock.mono + 1.0)  # within the wait
    clock.feed(calls, data[cut:])
    call = events(calls, clock.mono + 2.5)["1795303532.16"]
    assert call.raw["cdr"][-1]["LastApplication"] == "Hangup"


def freepbx_inbound(lid: str) -> tuple[Channel, Channel]:
    n = int(lid.rpartition(".")[2])
    trunk = Channel(f"PJSIP/trunk-{n:08x}", lid, lid, "from-trunk", "74951112233", "+79161234567")
    phone = Channel(f"PJSIP/101-{n + 1:08x}", f"{lid}1", lid, "from-internal", "101", "101", "Иван")
    return trunk, phone


def test_a_freepbx_inbound_call_with_mixmonitor_names_operator_and_line() -> None:
    trunk, phone = freepbx_inbound("1700000000.10")
    calls, clock = assembler(), Clock()
    path = f"{MONITOR}/2026/11/21/in-74951112233-+79161234567-20261121-100000-1700000000.10.wav"
    clock.feed(
        calls,
        [
            event("Newchannel", trunk),
            mixmonitor(trunk, f"{path[len(MONITOR) + 1 :]},ab"),
            varset(trunk, "MIXMONITOR_FILENAME", path),
            event("Newchannel", phone),
            event("DialBegin", trunk, phone),
            event("DialEnd", trunk, phone, DialStatus="ANSWER"),
            event("BridgeEnter", phone),
            event("BridgeEnter", trunk),
            cdr(trunk, "ANSWERED", phone),
            event("Hangup", phone, Cause="16"),
            event("Hangup", trunk, Cause="16"),
        ],
    )
    call = events(calls, clock.mono + 3)["1700000000.10"]
    assert call.direction is Direction.INBOUND
    assert (call.client_number, call.line_number) == ("+79161234567", "74951112233")
    assert (call.operator_id, call.operator_name) == ("101", "Иван")
    assert call.recordings[0].location == path
    assert call.recordings[0].channels is None  # one mixed file: mono


def test_an_outbound_call_recorded_on_the_phone_has_the_operator_as_the_recorded_side() -> None:
    lid = "1700000100.20"
    phone = Channel("PJSIP/102-00000010", lid, lid, "from-internal", "89161234567", "102", "Анна")
    trunk = Channel("PJSIP/trunk-00000011", f"{lid}1", lid, "from-trunk", "89161234567", "102")
    calls, clock = assembler(), Clock()
    clock.feed(
        calls,
        [
            event("Newchannel", phone),
            mixmonitor(phone, "out-89161234567-102-20261121-100100-1700000100.20.sln,bD"),
            event("Newchannel", trunk),
            event("DialBegin", phone, trunk),
            event("DialEnd", phone, trunk, DialStatus="ANSWER"),
            event("BridgeEnter", trunk),
            event("BridgeEnter", phone),
            event("Hangup", trunk),
            event("Hangup", phone),
        ],
    )
    call = events(calls, clock.mono + 3)[lid]
    assert call.direction is Direction.OUTBOUND
    assert call.client_number == "89161234567"
    assert (call.operator_id, call.operator_name) == ("102", "Анна")
    # MixMonitor ran on the operator's phone: D's left (what that channel sent) is the operator.
    assert call.recordings[0].channels == (Speaker.OPERATOR, Speaker.CLIENT)


def test_a_queue_call_keeps_the_agent_who_answered_and_ignores_the_ones_that_rang() -> None:
    trunk, _ = freepbx_inbound("1700000200.30")
    lid = trunk.linkedid
    agents = [
        Channel(f"Local/{ext}@from-queue-0000000{n};1", f"{lid}{n}", lid, "from-queue", ext, ext)
        for n, ext in enumerate(("101", "102", "103"), start=1)
    ]
    calls, clock = assembler(), Clock()
    stream = [
        event("Newchannel", trunk),
        mixmonitor(trunk, "q-500-x-20261121-1-1700000200.30.wav,b"),
    ]
    stream += [event("Newchannel", agent) for agent in agents]
    stream += [event("DialBegin", trunk, agent) for agent in agents]
    stream += [
        event("DialEnd", trunk, agents[0], DialStatus="CANCEL"),
        event("DialEnd", trunk, agents[2], DialStatus="CANCEL"),
        event("DialEnd", trunk, agents[1], DialStatus="ANSWER"),
        event("BridgeEnter", agents[1]),
        event("BridgeEnter", trunk),
    ]
    clock.feed(calls, stream)
    clock.wait(60)
    clock.feed(calls, [event("Hangup", agent) for agent in (*agents, trunk)])
    call = events(calls, clock.mono + 3)[lid]
    assert call.operator_id == "102"
    assert call.answered_at is not None
    assert len(call.recordings) == 1


def test_a_transferred_call_keeps_the_operator_who_talked_longest() -> None:
    trunk, first = freepbx_inbound("1700000300.40")
    lid = trunk.linkedid
    second = Channel("PJSIP/105-00000030", f"{lid}9", lid, "from-internal", "105", "105", "Ольга")
    calls, clock = assembler(), Clock()
    clock.feed(
        calls,
        [
            event("Newchannel", trunk),
            event("Newchannel", first),
            event("DialBegin", trunk, first),
            event("DialEnd", trunk, first, DialStatus="ANSWER"),
            event("BridgeEnter", first),
            event("BridgeEnter", trunk),
        ],
    )
    clock.wait(20)  # 20 s with the first operator, then a blind transfer to 105
    clock.feed(
        calls, [event("BridgeLeave", first), event("Hangup", first), event("Newchannel", second)]
    )
    clock.feed(
        calls,
        [event("DialBegin", trunk, second), event("DialEnd", trunk, second, DialStatus="ANSWER")],
    )
    clock.feed(calls, [event("BridgeEnter", second)])
    clock.wait(90)
    clock.feed(calls, [event("Hangup", second), event("Hangup", trunk)])
    found = events(calls, clock.mono + 3)
    assert list(found) == [lid]  # one call, not two
    assert (found[lid].operator_id, found[lid].operator_name) == ("105", "Ольга")


def test_two_interleaved_calls_are_kept_apart() -> None:
    a_trunk, a_phone = freepbx_inbound("1700000400.50")
    b_trunk, b_phone = freepbx_inbound("1700000401.60")
    b_phone.name, b_trunk.cid = "PJSIP/106-00000061", "+79035556677"
    calls, clock = assembler(), Clock()
    clock.feed(
        calls,
        [
            event("Newchannel", a_trunk),
            event("Newchannel", b_trunk),
            event("Newchannel", a_phone),
            event("Newchannel", b_phone),
            event("DialBegin", b_trunk, b_phone),
            event("DialBegin", a_trunk, a_phone),
            event("DialEnd", a_trunk, a_phone, DialStatus="ANSWER"),
            event("DialEnd", b_trunk, b_phone, DialStatus="BUSY"),
            event("Hangup", b_phone),
            event("Hangup", b_trunk),
            event("Hangup", a_phone),
        ],
    )
    found = events(calls, clock.mono + 3)
    assert list(found) == ["1700000401.60"]  # call A still has its trunk up
    assert found["1700000401.60"].client_number == "+79035556677"
    assert found["1700000401.60"].raw["dial_status"] == "BUSY"
    clock.feed(calls, [event("Hangup", a_trunk)])
    assert events(calls, clock.mono + 3)["1700000400.50"].operator_id == "101"


def test_a_call_first_heard_mid_way_is_marked_partial_and_stragglers_start_nothing() -> None:
    trunk, phone = freepbx_inbound("1700000500.70")
    calls, clock = assembler(), Clock()
    clock.feed(calls, [event("DialEnd", trunk, phone, DialStatus="ANSWER"), event("Hangup", phone)])
    clock.feed(calls, [event("Hangup", trunk)])
    (call,) = events(calls, clock.mono + 3).values()
    assert call.raw["partial"] is True
    clock.feed(calls, [event("Hangup", trunk), cdr(trunk, "ANSWERED")])
    assert events(calls, clock.mono + 3) == {}
    assert not calls.calls


def test_a_call_whose_hangup_was_lost_is_handed_over_when_stale() -> None:
    trunk, phone = freepbx_inbound("1700000600.80")
    calls, clock = assembler(stale_after=600), Clock()
    clock.feed(calls, [event("Newchannel", trunk), event("DialBegin", trunk, phone)])
    assert events(calls, clock.mono + 599) == {}
    (call,) = events(calls, clock.mono + 601).values()
    assert call.answered_at is None


def test_channelvars_carry_the_file_name_on_every_event() -> None:
    trunk, phone = freepbx_inbound("1700000700.90")
    path = f"{MONITOR}/x-1700000700.90.wav"
    with_var = {"ChanVariable": f"MIXMONITOR_FILENAME={path}"}
    calls, clock = assembler(), Clock()
    clock.feed(
        calls,
        [
            event("DialEnd", trunk, phone, DialStatus="ANSWER", **with_var),
            event("Hangup", phone),
            event("Hangup", trunk, **with_var),
        ],
    )
    (call,) = events(calls, clock.mono + 3).values()
    assert call.recordings[0].location == path


@pytest.mark.parametrize(
    ("channel", "peer"),
    [
        ("PJSIP/101-0000002a", "101"),
        ("SIP/trunk-00000001", "trunk"),
        ("Local/101@from-queue-00000003;1", "101"),
        ("IAX2/branch-1234", "branch-1234"),
    ],
)
def test_peer_of_a_channel_name(channel: str, peer: str) -> None:
    assert peer_of(channel) == peer


@pytest.mark.parametrize(
    ("contexts", "caller", "dialled", "direction"),
    [
        (["from-trunk", "ext-did"], "+79161234567", "74951112233", Direction.INBOUND),
        (["from-internal"], "101", "89161234567", Direction.OUTBOUND),
        (["from-internal"], "101", "102", Direction.INTERNAL),
        (["custom"], "+79161234567", "s", Direction.INBOUND),
        (["custom"], "s", "s", Direction.UNKNOWN),
    ],
)
def test_direction_rules(
    contexts: list[str], caller: str, dialled: str, direction: Direction
) -> None:
    assert RULES.direction(contexts, caller, dialled) is direction


EVENT_NAMES = st.sampled_from(
    ["Newchannel", "Newexten", "VarSet", "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave",
     "Hangup", "Cdr", "Junk", ""]
)  # fmt: skip
IDS = st.sampled_from(["1.1", "1.2", "2.1", "", "x"]) | st.text(max_size=12)
HEADERS = st.fixed_dictionaries(
    {"Event": EVENT_NAMES, "Linkedid": IDS, "Uniqueid": IDS},
    optional={
        "UniqueID": IDS,
        "DestUniqueid": IDS,
        "Channel": st.text(max_size=30),
        "DialStatus": st.sampled_from(["ANSWER", "NOANSWER", "", "weird"]),
        "Application": st.sampled_from(["MixMonitor", "Dial"]),
        "AppData": st.text(max_size=60),
        "Variable": st.just("MIXMONITOR_FILENAME"),
        "Value": st.text(max_size=40),
        "ChanVariable": st.lists(st.text(max_size=40), max_size=3),
        "Timestamp": st.sampled_from(["1700000000.5", "nan", "1e400", "x"]),
        "Context": st.text(max_size=20),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HEADERS, max_size=60))
def test_any_sequence_of_events_is_survived_and_reported(stream: list[dict[str, object]]) -> None:
    calls, mono = assembler(cdr_wait=0.0), 0.0
    for headers in stream:
        mono += 1.0
        calls.handle(Message(headers), T0, mono)
    for call in calls.due(mono + 10**6):
        call_event("pbx", call, RULES)  # must not raise
    assert not calls.calls


def test_one_call_cannot_hold_more_than_its_share_of_channels() -> None:
    calls, clock = assembler(), Clock(step=0.0)
    trunk, _ = freepbx_inbound("1700000800.1")
    flood = [
        event("Newchannel", Channel(f"Local/x-{n:08x};1", f"9.{n}", trunk.linkedid, "c", "s", "1"))
        for n in range(1000)
    ]
    clock.feed(calls, [event("Newchannel", trunk), *flood])
    assert len(calls.calls[trunk.linkedid].channels) == 256
