"""``callscribe routes test``, "no route" in ``callscribe calls``, and ``config validate``
showing the mapped requests, on a real database and configuration file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callscribe.cli import main
from callscribe.domain import CallEvent, Direction
from callscribe.store.sqlite import SqliteStore

CONFIG = """
[daemon]
state_dir = {state}

[sources.ct]
type = "generic"
token = "0123456789abcdef-token"

[sinks.archive]
type = "jsonl"
path = "archive.jsonl"

[sinks.mindbox]
type = "http"
url = "https://api.mindbox.example/v3/operations/async"
query.operation = "CallTouch"
query.deviceUUID = "{{fields.mindboxDeviceUUID}}"
secrets.key = "super-secret-value"
headers.Authorization = 'Mindbox secretKey="{{secrets.key}}"'
body.customer.mobilePhone = "{{call.client_number|phone_e164}}"
body.customerAction.customFields.callId = "{{call.external_id}}"

[sinks.tqm]
type = "tqm"
access_key = "tqm-access-key-value"

[[routes]]
sinks = ["tqm"]
calls = "all"
operators = ["100"]

[[routes]]
sinks = ["archive", "mindbox"]
calls = "missed"
where = {{ "fields.target" = true, "call.direction" = "inbound" }}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callscribe.toml"
    path.write_text(CONFIG.format(state=json.dumps(str(tmp_path / "state"))), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path, config: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "state" / "callscribe.db")
    routed = CallEvent("ct", "routed", Direction.INBOUND, client_number="+79991234567",
                       raw={"fields": {"target": True, "mindboxDeviceUUID": "d-1"}})  # fmt: skip
    lost = CallEvent("ct", "lost", Direction.OUTBOUND, client_number="+79997654321",
                     raw={"fields": {"target": "false"}})  # fmt: skip
    store.ingest(routed, ["archive", "mindbox"])
    store.ingest(lost, [])
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_a_call_no_route_took_is_listed_as_no_route(
    capsys: pytest.CaptureFixture[str], config: Path, store: SqliteStore
) -> None:
    code, out = run(capsys, "calls", "--config", str(config))
    assert code == 0
    lost = next(line for line in out.splitlines() if "lost" in line)
    routed = next(line for line in out.splitlines() if "routed" in line)
    assert lost.split()[-4:] == ["done", "-", "no", "route"]
    assert "no route" not in routed
    assert "callscribe routes test --call ID" in out
    code, out = run(capsys, "calls", "--config", str(config), "show", "2")
    assert "Deliveries: none, no route (see why: callscribe routes test --call 2)" in out


def test_routes_test_says_which_routes_take_a_call_and_why_not(
    capsys: pytest.CaptureFixture[str], config: Path, store: SqliteStore
) -> None:
    code, out = run(capsys, "routes", "test", "--config", str(config), "--call", "1")
    assert code == 0
    assert "route 2 (to archive, mindbox): takes it" in out
    assert "Sinks now: archive, mindbox" in out
    assert "Delivered when it came in: archive (pending), mindbox (pending)" in out
    code, out = run(capsys, "routes", "test", "--config", str(config), "--call", "2")
    assert code == 1
    assert "route 1 (to tqm): does not" in out
    assert "- operator is None, route takes '100'" in out
    assert "route 2 (to archive, mindbox): does not" in out
    assert (
        "- where: fields.target is 'false', wanted true; "
        "call.direction is 'outbound', wanted 'inbound'"
    ) in out
    assert "Sinks now: none (no route)" in out
    assert "7654321" not in out  # numbers masked
    code, out = run(capsys, "routes", "test", "--config", str(config), "--call", "9")
    assert code == 1
    assert "no call with id 9" in out


def test_config_validate_shows_each_mapped_request_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out = run(capsys, "config", "validate", "--config", str(config))
    assert code == 0
    assert "Requests for a sample call" in out
    assert "note: route 1 sends missed calls to 'tqm', but TQM imports recorded calls only" in out
    assert (
        "POST https://api.mindbox.example/v3/operations/async?operation=CallTouch"
        "&deviceUUID=%3Cfields.mindboxDeviceUUID%3E"
    ) in out
    assert 'Authorization: Mindbox secretKey="********"' in out
    assert '{"customer":{"mobilePhone":"+79991234567"},' in out
    assert '"OperatorChannel": "left"' in out
    assert "super-secret-value" not in out
    assert "tqm-access-key-value" not in out


def test_config_validate_renders_a_stored_call(
    capsys: pytest.CaptureFixture[str], config: Path, store: SqliteStore
) -> None:
    code, out = run(capsys, "config", "validate", "--config", str(config), "--call", "1")
    assert code == 0
    assert "Requests for call 1" in out
    assert "deviceUUID=d-1" in out
    assert '"callId":"routed"' in out
