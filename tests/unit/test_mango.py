"""Mango Office's pieces without a network: signing (R-WH-2 known answer), the form a
notification comes in, reading refusals, the statistics rows, days and directions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from callscribe.config.base import Secret
from callscribe.connectors.base import WebhookRequest
from callscribe.connectors.sources.mango import MangoConfig
from callscribe.connectors.sources.mango.events import Clock, Party, direction
from callscribe.connectors.sources.mango.limits import refusal
from callscribe.connectors.sources.mango.signing import Credentials, mango_sign, read_form
from callscribe.connectors.sources.mango.stats import parse_rows
from callscribe.domain import Direction
from callscribe.errors import SourceError
from tests.standins.mango import signed_form

KEY = "1234567890qwerty"
SALT = "vpbx-salt-0987654321"
RECORD_ADDED = (
    '{"entry_id":"NTAwOTQxMTAyMg==","product_id":300022532,"user_id":300049012,'
    '"timestamp":1578664187,"recording_id":"MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="}'
)
FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_mango_known_answer() -> None:
    """R-WH-2 (c): sha256_hex(vpbx_api_key + json + vpbx_api_salt), the documentation's
    record/added example as json; the digest was computed with `openssl dgst -sha256`."""
    expected = "b1d0b85fec7c71ed7d0331d0a535bb044f2d233097359b7eff13324038707bc9"
    assert mango_sign(KEY, RECORD_ADDED, SALT) == expected
    credentials = Credentials(Secret(KEY), Secret(SALT))
    fields = {"vpbx_api_key": KEY, "sign": expected, "json": RECORD_ADDED}
    assert credentials.verify(fields) == RECORD_ADDED
    with pytest.raises(SourceError):  # Mango sends lower-case hex; anything else is altered
        credentials.verify({**fields, "sign": expected.upper()})


def test_mango_known_answer_with_cyrillic_json() -> None:
    """The json is hashed as UTF-8 (computed with sha256sum)."""
    text = (
        '{"entry_id":"232wc3e3w3s222","call_direction":1,"from":{"number":"7800123635242"},'
        '"to":{"extension":"Иван"}}'
    )
    expected = "6d5eb20b43c6a76c358d75c01517393eac0b4debb30000976be863e227a6ee8b"
    assert mango_sign(KEY, text, SALT) == expected


def test_what_callscribe_sends_verifies() -> None:
    credentials = Credentials(Secret(KEY), Secret(SALT))
    form = credentials.form({"recording_id": "МТо=", "action": "download"})
    assert form["json"] == '{"recording_id":"МТо=","action":"download"}'
    assert form["sign"] == mango_sign(KEY, form["json"], SALT)
    assert credentials.verify(form) == form["json"]


def _flip(text: str, rng: random.Random) -> str:
    data = bytearray(text.encode())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(7)  # stays ASCII
    return data.decode()


@pytest.mark.parametrize("field", ["vpbx_api_key", "sign", "json"])
def test_one_flipped_bit_anywhere_is_refused(field: str) -> None:
    credentials = Credentials(Secret(KEY), Secret(SALT))
    good = {"vpbx_api_key": KEY, "sign": mango_sign(KEY, RECORD_ADDED, SALT), "json": RECORD_ADDED}
    rng = random.Random(field)
    refused = 0
    for _ in range(300):
        fields = {**good, field: _flip(good[field], rng)}
        with pytest.raises(SourceError) as info:
            credentials.verify(fields)
        assert info.value.status == 401
        refused += 1
    assert refused == 300


def test_the_wrong_salt_or_another_pbx_is_refused() -> None:
    theirs = Credentials(Secret("another-pbx-code"), Secret(SALT)).form({"a": 1})
    wrong_salt = Credentials(Secret(KEY), Secret("not-the-salt")).form({"a": 1})
    ours = Credentials(Secret(KEY), Secret(SALT))
    for fields in (theirs, wrong_salt):
        with pytest.raises(SourceError, match="wrong vpbx_api_key or sign"):
            ours.verify(fields)


@pytest.mark.parametrize("missing", ["vpbx_api_key", "sign", "json"])
def test_a_missing_field_is_401(missing: str) -> None:
    fields = {"vpbx_api_key": KEY, "sign": mango_sign(KEY, "{}", SALT), "json": "{}"}
    del fields[missing]
    with pytest.raises(SourceError, match="not a signed Mango request") as info:
        Credentials(Secret(KEY), Secret(SALT)).verify(fields)
    assert info.value.status == 401


def _request(body: bytes, method: str = "POST", **headers: str) -> WebhookRequest:
    return WebhookRequest(method, "/events/summary", {}, {**FORM, **headers}, body, "127.0.0.1")


def test_the_form_is_read_as_mango_sends_it() -> None:
    body = signed_form(KEY, SALT, {"entry_id": "a b+c", "name": "Иван"})
    fields = read_form(_request(body))
    assert fields is not None
    assert fields["json"] == '{"entry_id": "a b+c", "name": "Иван"}'
    charset = _request(body, **{"content-type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert read_form(charset) == fields


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_empty_connection_check_is_not_a_form(method: str) -> None:
    assert read_form(_request(b"", method)) is None
    assert read_form(_request(b"\r\n", method, **{"content-type": ""})) is None


@pytest.mark.parametrize(
    ("request_", "status", "message"),
    [
        (_request(b"json=%7B%7D", "GET"), 405, "POST"),
        (_request(b'{"entry_id": 1}', **{"content-type": "application/json"}), 415, "form"),
        (_request(b"json=1&json=2"), 400, "appears twice"),
        (_request(b"json=\xff\xfe"), 400, "UTF-8"),
        (_request(b"json=%FF"), 400, "UTF-8"),
        (_request(b"no equals sign"), 400, "form"),
        (_request(b"&".join([b"a=1"] * 30)), 400, "form"),
    ],
    ids=["get", "json", "twice", "bytes", "percent", "not-a-form", "too-many-fields"],
)
def test_a_body_that_is_not_one_form_is_refused(
    request_: WebhookRequest, status: int, message: str
) -> None:
    with pytest.raises(SourceError, match=message) as info:
        read_form(request_)
    assert info.value.status == status


RATE_LIMITED = {"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0}
# (HTTP status, JSON body) -> (counts as invalid, wait, retryable), words in the reason
REFUSALS: list[tuple[int | None, dict[str, Any] | None, tuple[bool, float | None, bool], str]] = [
    (429, {**RATE_LIMITED, "status": 429}, (False, 2.0, True), "rate limit"),
    (None, {**RATE_LIMITED, "status": 429}, (False, 2.0, True), "rate limit"),
    (401, None, (True, None, True), "blocks its API for 2 minutes"),
    (200, {"result": 3102}, (True, None, True), "check api_salt"),
    (400, {"result": 3105}, (True, None, True), "check api_key"),
    (404, {"result": 3320}, (True, None, True), "not stored yet"),
    (404, None, (True, None, True), "HTTP 404"),
    (403, None, (True, None, True), "IP list"),
    (None, {"result": 4002}, (False, None, False), "shorter than Mango keeps"),
    (503, None, (False, 5.0, True), "slow down"),
    (None, {"result": 5008}, (False, 5.0, True), "unavailable"),
    (500, None, (False, None, True), "HTTP 500"),
    (None, {"result": "2210"}, (False, None, True), "account is limited"),
    (None, {"result": 1000}, (False, None, True), "unexpected"),
]


@pytest.mark.parametrize(("status", "body", "expected", "said"), REFUSALS)
def test_refusals_are_read_as_the_documentation_says(
    status: int | None,
    body: dict[str, Any] | None,
    expected: tuple[bool, float | None, bool],
    said: str,
) -> None:
    refused = refusal(status, body)
    assert (refused.invalid, refused.wait, refused.retryable) == expected
    assert said in refused.reason


FIELDS = [
    "records", "start", "finish", "from_extension", "from_number", "to_extension",
    "to_number", "disconnect_reason", "entry_id",
]  # fmt: skip


def test_statistics_rows_as_documented() -> None:
    """The documentation's example row (records without brackets), the bracketed form its
    text describes, and a row without recordings."""
    text = (
        "547658365,547658366,547658367;1072915314;1072915399;456;749404444;937;12345678;Busy;E1\n"
        "[MToxMDA=,MToyMDA=];1072915516;1072915645;;74959988654;64;;RemoteHangup;E2\r\n"
        ";1072915700;1072915710;;79991234567;;;1100;E3\n"
        "\n"
    )
    rows, problems = parse_rows(text, FIELDS)
    assert problems == []
    assert [row.recording_ids for row, _ in rows] == [
        ["547658365", "547658366", "547658367"],
        ["MToxMDA=", "MToyMDA="],
        [],
    ]
    first, raw = rows[0]
    assert (first.entry_id, first.start, first.finish) == ("E1", 1072915314, 1072915399)
    assert (first.from_extension, first.to_number) == ("456", "12345678")
    assert raw["disconnect_reason"] == "Busy"
    assert rows[1][0].from_extension is None


def test_statistics_rows_that_cannot_be_read_are_named() -> None:
    text = "a;b\n;1;2;;;;;x;E1\n;abc;2;;;;;x;E2\n;1;2;;;;;x;\n"
    rows, problems = parse_rows(text, FIELDS)
    assert [row.entry_id for row, _ in rows] == ["E1"]
    assert problems[0] == "line 1: 2 values for 9 fields"
    assert problems[1].startswith("line 3: start:")
    assert problems[2].startswith("line 4: entry_id:")
    assert len(problems) == 3


def test_a_day_is_midnight_to_midnight_in_the_source_zone() -> None:
    clock = Clock(ZoneInfo("Europe/Moscow"))
    start, end = clock.day(date(2025, 11, 21))
    assert datetime.fromtimestamp(start, UTC) == datetime(2025, 11, 20, 21, 0, tzinfo=UTC)
    assert end - start == 86_399
    moment = clock.read(start)
    assert moment is not None
    assert moment.isoformat() == "2025-11-21T00:00:00+03:00"
    shifted = Clock(ZoneInfo("Europe/Moscow"), offset_hours=3)
    assert shifted.day(date(2025, 11, 21))[0] == start + 3 * 3600
    assert shifted.read(start + 3 * 3600) == moment
    assert clock.read(None) is None


@pytest.mark.parametrize(
    ("code", "caller", "callee", "expected"),
    [
        (1, Party(number="79991234567"), Party(extension="101"), Direction.INBOUND),
        (2, Party(extension="101"), Party(number="79991234567"), Direction.OUTBOUND),
        (0, Party(extension="101"), Party(extension="102"), Direction.INTERNAL),
        (7, Party(), Party(), Direction.UNKNOWN),
        (None, Party(number="79991234567"), Party(extension="101"), Direction.INBOUND),
        (None, Party(extension="101"), Party(number="79991234567"), Direction.OUTBOUND),
        (None, Party(extension="101"), Party(extension="102"), Direction.INTERNAL),
        (None, Party(number="79991234567"), Party(), Direction.INBOUND),
    ],
)
def test_direction(code: int | None, caller: Party, callee: Party, expected: Direction) -> None:
    assert direction(code, caller, callee) is expected


def _config(**extra: Any) -> MangoConfig:
    return MangoConfig.model_validate({"type": "mango", "api_key": KEY, "api_salt": SALT, **extra})


def test_config_defaults_are_mangos_public_hosts() -> None:
    config = _config()
    assert str(config.api_url) == "https://app.mango-office.ru/vpbx/"
    assert config.recording_hosts == ("files.mango-office.ru",)
    assert "entry_id" in config.stats_fields
    assert KEY not in repr(config)
    assert SALT not in config.model_dump_json()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"api_url": "http://127.0.0.1:9/vpbx/"}, "api_url must be https://"),
        ({"stats_fields": ["records", "start"]}, "must include entry_id"),
        ({"stats_fields": ["entry_id", "entry_id"]}, "each field once"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"recording_requests_per_second": 10}, "less than 10"),
    ],
)
def test_config_mistakes_are_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**extra)
    assert _config(api_url="http://127.0.0.1:9/vpbx/", allow_http=True).allow_http
