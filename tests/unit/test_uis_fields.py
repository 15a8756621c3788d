"""What UIS's template substitution can leave, mended only where JSON is broken; lenient
value readers; and when the UIS source joins a call's notifications."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callscribe.connectors.sources import values as v
from callscribe.connectors.sources.uis import UisSource, UisSourceConfig
from callscribe.connectors.sources.uis_fields import links, mend, read_body
from callscribe.errors import SourceError

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ('{"a":,"b":1}', {"a": None, "b": 1}),
        ('{"a": }', {"a": None}),
        ('{"a":{"b":\n}}', {"a": {"b": None}}),
        ('{"a":{{employee_id}},"b":2}', {"a": None, "b": 2}),
        ('{"a":""Иван Петров""}', {"a": "Иван Петров"}),
        ('{"a":""say \\"hi\\"""}', {"a": 'say "hi"'}),
        ('{"a":"["https://x/1","https://x/2"]"}', {"a": ["https://x/1", "https://x/2"]}),
        ('{"a":"{"k": 1}"}', {"a": {"k": 1}}),
        ('{"a":2026-11-20 10:00:00,"b":Иван}', {"a": "2026-11-20 10:00:00", "b": "Иван"}),
        ('{"a":"","b":,"c":[1, 2]}', {"a": "", "b": None, "c": [1, 2]}),
        ('{"t":"a:b,c}","x":}', {"t": "a:b,c}", "x": None}),  # inside strings: untouched
    ],
)
def test_what_substitution_breaks_is_mended(sent: str, read: dict[str, Any]) -> None:
    assert read_body(sent.encode()) == read


@pytest.mark.parametrize(
    "valid",
    [
        '{"a":"","b":"[not json]","c":"{{x}}","d":"\\"\\"q\\"\\""}',
        '{"a": [ ], "b": {}, "c": null, "d": -1.5e3}',
    ],
)
def test_a_valid_body_is_never_changed(valid: str) -> None:
    assert read_body(valid.encode()) == json.loads(valid)


@pytest.mark.parametrize(
    "broken", ["", "not json", "[1, 2]", '{"a": 1', '{"a": 1, "a": 2}', b"\xff{}".hex()]
)
def test_what_cannot_be_mended_is_refused_with_the_original_reason(broken: str) -> None:
    with pytest.raises(SourceError) as refused:
        read_body(broken.encode())
    assert refused.value.status == 400


def test_mend_leaves_what_is_not_a_value_position_alone() -> None:
    assert mend('{"a": [1,,2]}') == '{"a": [1,,2]}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20 10:00:00", datetime(2026, 11, 20, 10, tzinfo=MOSCOW)),
        ("20/11/2026 10:00:00", datetime(2026, 11, 20, 10, tzinfo=MOSCOW)),
        ("20.11.2026 10:00:00", datetime(2026, 11, 20, 10, tzinfo=MOSCOW)),
        ("2026-11-20T10:00:00+05:00", datetime(2026, 11, 20, 5, tzinfo=UTC)),
        (1795158000, datetime(2026, 11, 20, 7, tzinfo=UTC)),
        ("1795158000", datetime(2026, 11, 20, 7, tzinfo=UTC)),
        ("inf", None),
        ("1e300", None),
        ("42", None),
        ("вчера", None),
        (None, None),
        ([], None),
    ],
)
def test_times_in_every_form_vendors_send(value: Any, expected: datetime | None) -> None:
    assert v.moment(value, MOSCOW) == expected


def test_text_numbers_and_flags() -> None:
    assert [v.text(x) for x in (12, 12.0, 12.5, " a ", "", "null", None, True, [1])] == [
        "12", "12", "12.5", "a", None, None, None, None, None,
    ]  # fmt: skip
    assert [v.number(x) for x in ("12", 3, "x", None)] == [12.0, 3.0, None, None]
    assert [v.flag(x) for x in (True, "true", "1", "да", "false", 0, "нет", "maybe")] == [
        True, True, True, True, False, False, False, None,
    ]  # fmt: skip
    assert links('["https://a/1", "https://a/1", ""]') == ("https://a/1",)
    assert links("https://a/1") == ("https://a/1",)
    assert links(None) == ()


TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def uis() -> UisSource:
    config = UisSourceConfig.model_validate(
        {"type": "uis", "token": TOKEN, "recording_wait_seconds": 600}
    )
    return UisSource("uis", config)


END = {"call_session_id": 1, "talk_time_duration": 40, "finish_time": "2026-11-20 10:01:00"}
TALK = {"call_session_id": 1, "file_link": "http://app.uiscom.ru/system/media/talk/1/2/"}


def test_the_call_end_waits_for_the_recording_until_it_stops_waiting(
    uis: UisSource, caplog: pytest.LogCaptureFixture
) -> None:
    assert uis.join("1", {"call_end": END}, waited=599) is None
    caplog.set_level(logging.WARNING)
    event = uis.join("1", {"call_end": END}, waited=600)
    assert event is not None
    assert event.recordings == ()
    assert event.answered_at == datetime(2026, 11, 20, 10, 0, 20, tzinfo=MOSCOW)
    assert "no recording came within 600 s" in caplog.text


def test_either_order_joins_at_once_and_links_ask_for_https(uis: UisSource) -> None:
    event = uis.join("1", {"call_end": END, "recorded_talk": TALK}, waited=1)
    assert event is not None
    assert [r.location for r in event.recordings] == [
        "https://app.uiscom.ru/system/media/talk/1/2/"
    ]
    assert uis.join("1", {"recorded_talk": TALK}, waited=599) is None
    alone = uis.join("1", {"recorded_talk": TALK}, waited=600)
    assert alone is not None
    assert alone.recordings == event.recordings


def test_a_call_nobody_talked_in_does_not_wait(uis: UisSource) -> None:
    event = uis.join("1", {"call_end": {**END, "talk_time_duration": 0}}, waited=0)
    assert event is not None
    assert event.recordings == ()


def test_a_token_shorter_than_128_bits_is_refused_without_showing_it() -> None:
    short = secrets.token_hex(15)  # 120 bits
    with pytest.raises(ValueError, match="at least 32 characters") as refused:
        UisSourceConfig.model_validate({"type": "uis", "token": short})
    assert short not in str(refused.value)


def test_the_event_times_follow_the_configured_zone() -> None:
    config = UisSourceConfig.model_validate(
        {"type": "uis", "token": TOKEN, "time_zone": "Asia/Yekaterinburg"}
    )
    event = UisSource("uis", config).join("1", {"call_end": END}, waited=10_000)
    assert event is not None
    assert event.ended_at is not None
    assert event.ended_at.utcoffset() == timedelta(hours=5)
