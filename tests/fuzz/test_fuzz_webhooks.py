"""Every webhook source's parser against what a hostile or broken sender can post.

Each example goes the way a real notification goes: the source's ``handle`` (SourceError
is its only documented refusal: the HTTP answer), then what it returned into a real
SQLite store (events ingested, parts kept), then, for joining sources, ``join`` over the
parts kept so far and the joined call into the store.  Nothing after ``handle`` may
refuse: the webhook would be answered 503 and the vendor would retry a poison
notification forever.  Bodies are random bytes, mutated real bodies, and structured
objects with the vendor's field names holding any JSON value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callscribe.connectors.base import JoiningSource, WebhookRequest, WebhookSource
from callscribe.connectors.sources.calltouch import CalltouchSource, CalltouchSourceConfig
from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.connectors.sources.mango import MangoConfig
from callscribe.connectors.sources.mango.signing import mango_sign
from callscribe.connectors.sources.mango.source import MangoSource
from callscribe.connectors.sources.uis import UisSource, UisSourceConfig
from callscribe.connectors.sources.uis_fields import mend, read_body
from callscribe.connectors.sources.webhook import GenericWebhookConfig, GenericWebhookSource
from callscribe.domain import CallEvent, CallPart
from callscribe.errors import SourceError
from callscribe.store.sqlite import SqliteStore
from tests.fuzz.harness import FUZZ, Refused, checked
from tests.fuzz.strategies import (
    HOSTILE_TEXT,
    JSON_VALUES,
    SCALARS,
    TIMELIKE,
    WIRE_TEXT,
    field_maps,
    json_bytes,
    mutated,
    perturbed,
)

TOKEN = "fuzz-token-0123456789abcdefghijklmnopqrstuvwxyz"
KEY, SALT = "fuzz-mango-key", "fuzz-mango-salt"
JSON = {"content-type": "application/json"}
NOW = [1_800_000_000.0]  # the sources' clock (Mango's waits run on it)
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    yield store
    store.close()


def request(
    body: bytes,
    headers: dict[str, str],
    *,
    method: str = "POST",
    path: str = "",
    query: dict[str, str] | None = None,
) -> WebhookRequest:
    return WebhookRequest(method, path, query or {}, headers, body, "203.0.113.7")


def through(
    parser: str, source: WebhookSource, webhook: WebhookRequest, store: SqliteStore
) -> None:
    """One notification the daemon's way: handle, store, join, store the joined call."""
    try:
        items = checked(parser, lambda: asyncio.run(source.handle(webhook)), allowed=(SourceError,))
    except Refused as refused:
        status = refused.error.status  # type: ignore[attr-defined]
        assert 400 <= status < 500, f"a refusal must be a 4xx answer, not {status}"
        return
    for item in items:
        if isinstance(item, CallEvent):
            checked(f"{parser} store", store.ingest, item)
            continue
        assert isinstance(item, CallPart)
        waiting = checked(f"{parser} store", store.add_call_part, item)
        if waiting is None:
            continue
        assert isinstance(source, JoiningSource)
        for waited in (0.0, 10**9):  # just arrived; and long after every wait ran out
            NOW[0] += waited
            event = checked(f"{parser} join", source.join, item.external_id, waiting.parts, waited)
            if event is not None:
                assert (event.source, event.external_id) == (item.source, item.external_id)
                checked(f"{parser} store", store.ingest, event)
                break


# --- generic ---------------------------------------------------------------------------

GENERIC = GenericWebhookSource(
    "generic", GenericWebhookConfig.model_validate({"type": "generic", "token": TOKEN})
)
GENERIC_FIELDS = ["id", "direction", "started_at", "answered_at", "ended_at", "client_number",
                  "line_number", "operator", "recording_url", "recordings", "fields"]  # fmt: skip
GOOD_CALL = {
    "id": "call-1",
    "direction": "inbound",
    "started_at": "2026-11-21T10:00:00+03:00",
    "client_number": "+79991234567",
    "operator": {"id": "7", "name": "Иван"},
    "recording_url": "https://pbx.example.com/r/1.wav",
    "fields": {"deal": 5},
}
# Mostly the right token, so most examples reach the parser behind the door.
AUTH = st.one_of(
    st.just({"x-callscribe-token": TOKEN}),
    st.just({"authorization": f"Bearer {TOKEN}"}),
    st.sampled_from([{"authorization": f"bearer  {TOKEN}  "}, {"authorization": "Bearer no"}, {}]),
    st.dictionaries(st.sampled_from(["authorization", "x-callscribe-token"]), WIRE_TEXT),
)
GOOD_RECORDINGS = {
    **{k: v for k, v in GOOD_CALL.items() if k != "recording_url"},
    "recordings": [{"url": "https://pbx.example.com/r/1-in.wav", "channels": "client,operator"}],
}
GENERIC_BODIES = st.one_of(
    st.binary(max_size=2000),
    mutated(json_bytes(GOOD_CALL)),
    field_maps(GENERIC_FIELDS).map(json_bytes),
    perturbed(GOOD_CALL).map(json_bytes),
    perturbed(GOOD_RECORDINGS).map(json_bytes),
)


@FUZZ
@given(GENERIC_BODIES, AUTH, st.sampled_from(["POST", "POST", "POST", "GET"]))
@example(json_bytes({"id": "x", "fields": {"a": "\ud800"}}), {"x-callscribe-token": TOKEN}, "POST")
@example(b'{"id": "x", "\xed\xa0\x80": 1}', {"x-callscribe-token": TOKEN}, "POST")
def test_generic_webhook(
    store: SqliteStore, body: bytes, auth: dict[str, str], method: str
) -> None:
    through("generic webhook", GENERIC, request(body, {**JSON, **auth}, method=method), store)


# --- UIS --------------------------------------------------------------------------------

UIS = UisSource(
    "uis",
    UisSourceConfig.model_validate({"type": "uis", "token": TOKEN, "recording_wait_seconds": 60}),
)
UIS_FIELDS = ["call_session_id", "direction", "start_time", "finish_time", "talk_time_duration",
              "contact_phone_number", "calling_phone_number", "called_phone_number",
              "virtual_phone_number", "employee_id", "employee_full_name", "file_link",
              "record_file_links", "is_lost", "last_talked_employee_id"]  # fmt: skip
UIS_EVENTS = st.sampled_from(["call_end", "recorded_talk", "lost_call"]) | HOSTILE_TEXT
UIS_CALL = {
    "call_session_id": 100,
    "direction": "in",
    "start_time": "2026-11-21 10:00:00",
    "finish_time": "2026-11-21 10:05:00",
    "talk_time_duration": 280,
    "contact_phone_number": "79991234567",
    "virtual_phone_number": "74951234567",
    "employee_id": 7,
    "employee_full_name": "Иван",
    "file_link": ["https://app.uiscom.ru/system/media/talk/100/200/"],
    "is_lost": False,
}


@st.composite
def uis_body(draw: st.DrawFn) -> bytes:
    """A notification as UIS fills a template: JSON, or the broken JSON its substitution
    makes (empty values, quoted placeholders), or anything."""
    fields: dict[str, Any] = draw(perturbed(UIS_CALL) | field_maps(UIS_FIELDS))
    fields["callscribe_event"] = draw(UIS_EVENTS)
    fields["call_session_id"] = draw(st.sampled_from([100, "101", 102]) | SCALARS)
    fields["finish_time"] = draw(TIMELIKE | SCALARS)
    if draw(st.booleans()):
        fields["callscribe_token"] = TOKEN
    text = json.dumps(fields, ensure_ascii=False)
    style = draw(st.sampled_from(["json", "holes", "quoted", "placeholder", "mutated"]))
    if style == "holes":  # an unquoted placeholder UIS left empty
        text = text.replace("null", "", draw(st.integers(1, 3)))
    elif style == "quoted":  # an admin quoted a placeholder: a string inside quotes
        text = text.replace(': "', ': ""', 1).replace('",', '"",', 1)
    elif style == "placeholder":
        text = text.replace("null", "{{employee_id}}", 1)
    data = text.encode("utf-8", "surrogatepass")
    return draw(mutated(data)) if style == "mutated" else data


@FUZZ
@given(
    st.one_of(uis_body(), uis_body(), st.binary(max_size=2000)),
    st.sampled_from(["", f"/{TOKEN}", f"/{TOKEN}", "/wrong"]),
    st.sampled_from([JSON, JSON, FORM, {"content-type": "text/html"}, {}]),
)
@example(
    json_bytes({"callscribe_event": "call_end", "call_session_id": 5, "talk_time_duration": 1e300,
                "finish_time": "2026-11-21 10:00:00", "callscribe_token": TOKEN}),
    "", JSON,
)  # fmt: skip
def test_uis_notifications(
    store: SqliteStore, body: bytes, path: str, headers: dict[str, str]
) -> None:
    through("uis webhook", UIS, request(body, headers, path=path), store)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"callscribe_event": st.sampled_from(["call_end", "recorded_talk", "lost_call"]),
         "call_session_id": st.sampled_from(["100", "101"]) | WIRE_TEXT},
        optional=dict.fromkeys(UIS_FIELDS[1:], WIRE_TEXT | TIMELIKE),
    )
)  # fmt: skip
def test_uis_query_notifications(store: SqliteStore, query: dict[str, str]) -> None:
    webhook = request(b"", {}, method="GET", path=f"/{TOKEN}", query=query)
    through("uis webhook (GET)", UIS, webhook, store)


@FUZZ
@given(st.text(max_size=400) | uis_body().map(lambda b: b.decode("utf-8", "replace")))
def test_uis_mending_never_raises_and_never_changes_valid_json(text: str) -> None:
    mended = checked("uis json mending", mend, text)
    try:
        original = parse_object(text.encode("utf-8", "surrogatepass"))
    except SourceError:
        return
    assert json.loads(mended) == original
    assert checked("uis json mending", read_body, text.encode("utf-8")) == original


# --- Mango ------------------------------------------------------------------------------

MANGO = MangoSource(
    "mango",
    MangoConfig.model_validate({"type": "mango", "api_key": KEY, "api_salt": SALT}),
    clock=lambda: NOW[0],
)
PARTY = st.fixed_dictionaries({}, optional={"extension": SCALARS, "number": SCALARS})
STAMP = st.sampled_from([0, 1, 1_700_000_000, 2**31, 2**63, 10**20, "1700000000", "", "x", -1])
SUMMARY = st.fixed_dictionaries(
    {"entry_id": st.sampled_from(["E1", "E2", "RTE=", ""]) | SCALARS},
    optional={
        "call_direction": st.integers(-5, 5) | SCALARS,
        "from": PARTY | SCALARS,
        "to": PARTY | SCALARS,
        "line_number": SCALARS,
        "create_time": STAMP | SCALARS,
        "talk_time": STAMP | SCALARS,
        "end_time": STAMP | SCALARS,
        "entry_result": st.integers(-1, 2) | SCALARS,
    },
)
RECORD = st.fixed_dictionaries(
    {"entry_id": st.sampled_from(["E1", "E2"]) | SCALARS,
     "recording_id": st.sampled_from(["MToxMDA=", "r2"]) | SCALARS},
    optional={"user_id": SCALARS, "timestamp": STAMP | SCALARS},
)  # fmt: skip
MANGO_PATHS = st.sampled_from(
    ["/events/summary", "/events/record/added", "/events/call", "", "//events//summary/"]
)


def mango_form(payload: Any, *, signed: bool, raw_json: str | None = None) -> bytes:
    text = raw_json if raw_json is not None else json.dumps(payload)
    sign = mango_sign(KEY, text, SALT) if signed else "0" * 64
    return urlencode({"vpbx_api_key": KEY, "sign": sign, "json": text}).encode()


GOOD_SUMMARY = {
    "entry_id": "E1",
    "call_direction": 1,
    "from": {"number": "79991234567"},
    "to": {"extension": "101"},
    "line_number": "74951234567",
    "create_time": 1_799_999_000,
    "talk_time": 1_799_999_010,
    "end_time": 1_799_999_100,
    "entry_result": 1,
}
GOOD_RECORD = {
    "entry_id": "E1",
    "recording_id": "MToxMDA=",
    "user_id": 5,
    "timestamp": 1_799_999_110,
}


@st.composite
def mango_body(draw: st.DrawFn) -> bytes:
    payload = draw(
        st.one_of(SUMMARY, RECORD, JSON_VALUES, perturbed(GOOD_SUMMARY), perturbed(GOOD_RECORD))
    )
    signed = draw(st.booleans()) or draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:  # signed text that is not JSON at all
        return mango_form(None, signed=signed, raw_json=draw(WIRE_TEXT))
    return mango_form(payload, signed=signed)


@FUZZ
@given(
    mango_body() | st.binary(max_size=1000) | mango_body().flatmap(mutated),
    MANGO_PATHS,
    st.sampled_from([FORM, JSON]),
)
@example(
    mango_form({"entry_id": "E9", "talk_time": 10**20, "entry_result": 1}, signed=True),
    "/events/summary",
    FORM,
)
def test_mango_notifications(
    store: SqliteStore, body: bytes, path: str, headers: dict[str, str]
) -> None:
    through("mango webhook", MANGO, request(body, headers, path=path), store)


# --- Calltouch --------------------------------------------------------------------------

CALLTOUCH = CalltouchSource(
    "calltouch",
    CalltouchSourceConfig.model_validate(
        {"type": "calltouch", "token": TOKEN, "site_id": "123", "client_api_id": "k" * 32,
         "allowed_ips": []}
    ),
)  # fmt: skip
CALLTOUCH_FIELDS = ["callId", "callerNumber", "phoneNumber", "date", "duration",
                    "waitingConnect", "successful"]  # fmt: skip
CALLTOUCH_PARAMS = st.fixed_dictionaries(
    {"callId": st.sampled_from(["ct-1", "ct-2"]) | WIRE_TEXT},
    optional=dict.fromkeys(CALLTOUCH_FIELDS[1:], WIRE_TEXT | TIMELIKE),
) | st.dictionaries(WIRE_TEXT, WIRE_TEXT, max_size=4)


ARRIVALS = st.sampled_from(["GET", "POST"]).flatmap(
    lambda method: st.tuples(
        st.just(method),
        st.sampled_from([f"/{TOKEN}", f"/{TOKEN}", "", "/nope"]),
        st.sampled_from([FORM, FORM, JSON, {}]),
    )
)


@FUZZ
@given(
    CALLTOUCH_PARAMS,
    CALLTOUCH_PARAMS.map(lambda p: urlencode(p).encode()) | st.binary(max_size=500),
    ARRIVALS,
)
@example(
    {"callId": "ct-9", "date": "21/11/2026 10:00:00", "duration": "1e300"},
    b"",
    ("GET", f"/{TOKEN}", FORM),
)
def test_calltouch_webhooks(
    store: SqliteStore,
    query: dict[str, str],
    body: bytes,
    arrival: tuple[str, str, dict[str, str]],
) -> None:
    method, path, headers = arrival
    webhook = request(body, headers, method=method, path=path, query=query)
    through("calltouch webhook", CALLTOUCH, webhook, store)


def test_a_good_notification_of_each_source_gets_past_the_door(store: SqliteStore) -> None:
    """The fuzzing above reaches past authentication only if its settings are right: a
    guard against a config change that would leave every example refused at the door."""
    good = {
        "generic": (GENERIC, request(json_bytes(GOOD_CALL), {"x-callscribe-token": TOKEN})),
        "uis": (UIS, request(json_bytes({"callscribe_event": "lost_call",
                "call_session_id": "9"}), JSON, path=f"/{TOKEN}")),
        "mango": (MANGO, request(mango_form({"entry_id": "E7", "entry_result": 0}, signed=True),
                  FORM, path="/events/summary")),
        "calltouch": (CALLTOUCH, request(b"", {}, method="GET", path=f"/{TOKEN}",
                      query={"callId": "ct-7", "successful": "false"})),
    }  # fmt: skip
    for name, (source, webhook) in good.items():
        (item,) = asyncio.run(source.handle(webhook))
        assert item.source == name
