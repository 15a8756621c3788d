"""Routes with where-conditions: a table of calls × routes with the sinks each call gets
(seed 004's static-number / dynamic-pool / target-call rules among them), the reasons a
route gives for not taking a call, and the errors a bad condition gets at load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callscribe.config.loader import load_settings
from callscribe.config.routes import sinks_for
from callscribe.config.settings import Settings
from callscribe.domain import CallEvent, Direction, RecordingRef
from callscribe.errors import ConfigError

CONFIG = r"""
[sinks.mindbox_static]
type = "jsonl"
path = "static.jsonl"
[sinks.mindbox_dynamic]
type = "jsonl"
path = "dynamic.jsonl"
[sinks.archive]
type = "jsonl"
path = "archive.jsonl"
[sinks.vip]
type = "jsonl"
path = "vip.jsonl"

[[routes]]   # calls to static numbers: no session, no Mindbox cookie
sinks = ["mindbox_static"]
where = { "fields.sessionId" = { empty = true }, "fields.mindboxDeviceUUID" = { empty = true } }

[[routes]]   # calls to the dynamic pool, target calls only
sinks = ["mindbox_dynamic"]
[routes.where]
"fields.sessionId" = { empty = false }
"fields.mindboxDeviceUUID" = { empty = false }
"fields.targetCall" = true

[[routes]]
sinks = ["archive"]
calls = "all"

[[routes]]
sinks = ["vip"]
[routes.where]
any = [ { "call.client_number" = { regex = '^\+7495' } },
        { "call.operator_id" = { in = ["7", 8] } } ]
not = { "raw.spam" = { exists = true } }
"call.talk_seconds" = { ge = 30 }
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = tmp_path_factory.mktemp("routes") / "callscribe.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_settings(path, environ={})


def event(fields: dict[str, Any] | None = None, *, talk: float = 45.0, **changes: Any) -> CallEvent:
    answered = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "direction": Direction.INBOUND,
        "answered_at": answered,
        "ended_at": answered + timedelta(seconds=talk),
        "client_number": "+79991234567",
        "recordings": (RecordingRef("https://pbx.example/r.wav"),),
        "raw": {"fields": fields or {}},
    } | changes
    return CallEvent("ct", "1", **values)


DYNAMIC = {"sessionId": "123", "mindboxDeviceUUID": "d-1", "targetCall": "true"}


@pytest.mark.parametrize(
    ("call", "sinks"),
    [
        (event(), ["mindbox_static", "archive"]),
        (event({"sessionId": "", "mindboxDeviceUUID": None}), ["mindbox_static", "archive"]),
        (event(DYNAMIC), ["mindbox_dynamic", "archive"]),
        (event(DYNAMIC | {"targetCall": False}), ["archive"]),
        (event({"sessionId": "123"}), ["archive"]),  # half of the pair: no Mindbox request
        (event(DYNAMIC, client_number="+74951234567"), ["mindbox_dynamic", "archive", "vip"]),
        (event(operator_id="8"), ["mindbox_static", "archive", "vip"]),
        (event(operator_id="8", talk=10), ["mindbox_static", "archive"]),
        (event(operator_id="7", raw={"spam": 1}), ["mindbox_static", "archive"]),
        (event(recordings=(), answered_at=None), ["archive"]),  # missed: 'all' only
    ],
)
def test_each_call_goes_to_the_sinks_its_routes_select(
    settings: Settings, call: CallEvent, sinks: list[str]
) -> None:
    assert sinks_for(settings.routes, call) == sinks


def test_a_route_says_why_it_does_not_take_a_call(settings: Settings) -> None:
    dynamic, vip = settings.routes[1], settings.routes[3]
    assert dynamic.mismatches(event({"sessionId": "123", "targetCall": "false"})) == [
        "where: fields.mindboxDeviceUUID is missing, wanted not empty; "
        "fields.targetCall is 'false', wanted true"
    ]
    (reason,) = vip.mismatches(event(raw={"spam": True}))
    assert reason.startswith(
        "where: none of: call.client_number is '+79991234567', wanted to match"
    )
    assert reason.endswith("; wanted not (raw.spam: exists)")
    assert settings.routes[0].mismatches(event(recordings=())) == [
        "the call is missed (no recording), route takes calls = 'recorded'"
    ]


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ('{ "fields.x" = { eq = 1 } }', "fields.x: unknown test 'eq' (known: equals, in,"),
        ('{ "call.phone" = "1" }', "unknown field 'call.phone'"),
        ('{ "transcript.text" = "1" }', "unknown field 'transcript.text': a path starts with"),
        ('{ "raw.x" = { regex = "(" } }', "raw.x.regex: not a valid regular expression"),
        ('{ "raw.x" = { in = "a" } }', "raw.x.in: expected a list of values"),
        ('{ "raw.x" = { gt = "5" } }', "raw.x.gt: expected a number"),
        ('{ "raw.x" = { empty = "yes" } }', "raw.x.empty: expected true or false"),
        ("{ any = [] }", "any: expected a list of condition tables"),
        ("{}", "where: expected a table of conditions"),
    ],
)
def test_a_bad_condition_is_refused_at_load_with_its_path_and_reason(
    tmp_path: Path, where: str, problem: str
) -> None:
    path = tmp_path / "callscribe.toml"
    path.write_text(
        f'[sinks.a]\ntype = "jsonl"\npath = "a.jsonl"\n'
        f'[[routes]]\nsinks = ["a"]\nwhere = {where}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    message = str(refused.value)
    assert "routes[0].where: " in message
    assert problem in message
    assert "Value error" not in message
