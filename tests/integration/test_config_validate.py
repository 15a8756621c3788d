"""``callscribe config validate`` finds what would fail once the service runs, every
problem at once with its key; ``config show`` prints the effective configuration, as
TOML or JSON, secrets masked."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from callscribe.cli import main

SECRET = "super-secret-token-0123456789"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callscribe.toml"
    path.write_text(text, "utf-8")
    return path


def test_every_problem_at_once_each_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLSCRIBE_TEST_UNSET", raising=False)
    (tmp_path / "a-file").write_text("", "utf-8")
    config = write(
        tmp_path,
        """
[daemon]
listne = "127.0.0.1:1"

[sources.pbx]
type = "directory"
path = "recordings"

[sources.spool]
type = "directory"
path = "a-file"

[sources.hook]
type = "generic"
token = "env:CALLSCRIBE_TEST_UNSET"

[sinks.archive]
type = "jsonl"
path = "no-such-folder/calls.jsonl"

[[routes]]
sources = ["pbx", "hook", "pbxx"]
sinks = ["archive", "helpdesk"]
""",
    )
    status, out, err = run(capsys, "config", "validate", "--config", str(config))
    assert status == 2
    assert out == ""
    assert err.splitlines() == [
        f"callscribe: {config}: 7 problem(s):",
        "  daemon.listne: unknown setting (a typo?)",
        "  sources.hook.token: environment variable CALLSCRIBE_TEST_UNSET is not set",
        "  routes[0].sources: no source named 'pbxx'",
        "  routes[0].sinks: no sink named 'helpdesk'",
        f"  sources.pbx.path: the folder {tmp_path / 'recordings'} does not exist",
        f"  sources.spool.path: {tmp_path / 'a-file'} is not a folder",
        f"  sinks.archive.path: the folder {tmp_path / 'no-such-folder'} does not exist",
    ]


def test_an_empty_file_is_not_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "config", "validate", "--config", str(write(tmp_path, "")))
    assert status == 2
    assert err.splitlines()[1:] == [
        "  sources: no [sources.NAME] table: nothing brings calls in",
        "  sinks: no [sinks.NAME] table: transcripts go nowhere",
        "  routes: no [[routes]] entry: no call is delivered to any sink",
    ]


@pytest.mark.skipif(os.getuid() == 0, reason="root reads every folder")
def test_a_folder_the_user_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "closed").mkdir(mode=0o000)
    config = write(
        tmp_path,
        '[sources.pbx]\ntype = "directory"\npath = "closed"\n'
        '[sinks.a]\ntype = "jsonl"\npath = "a.jsonl"\n[[routes]]\nsinks = ["a"]\n',
    )
    status, _, err = run(capsys, "config", "validate", "--config", str(config))
    assert status == 2
    assert f"sources.pbx.path: the folder {tmp_path / 'closed'} cannot be read" in err


GOOD = f"""
[sources.pbx]
type = "directory"
path = "."

[sources.hook]
type = "generic"
token = "{SECRET}"

[sinks.archive]
type = "jsonl"
path = "calls.jsonl"

[sinks.crm]
type = "webhook"
url = "https://localhost:9/calls"

[sinks.mapped]
type = "http"
url = "https://localhost/calls/{{call.external_id}}"
body.id = "{{call.external_id}}"

[sinks.lan]
type = "webhook"
url = "https://192.0.2.10/calls"

[[routes]]
sinks = ["archive", "crm", "mapped", "lan"]
where = {{ "call.direction" = "inbound", any = [{{ "raw.x" = {{ gt = 5 }} }}] }}
"""


def test_online_looks_up_every_sink_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, GOOD)
    status, out, _ = run(capsys, "config", "validate", "--config", str(config), "--online")
    assert status == 0  # localhost resolves; an address is not looked up
    assert out.startswith(f"{config}: valid — 2 source(s), 4 sink(s), 1 route(s)\n")
    assert "--online does" not in out

    config.write_text(GOOD.replace("localhost:9", "crm.invalid"), "utf-8")
    status, out, err = run(capsys, "config", "validate", "--config", str(config))
    assert status == 0
    assert "note: sink host names were not looked up (--online does)" in out
    status, _, err = run(capsys, "config", "validate", "--config", str(config), "--online")
    assert status == 2
    assert err.splitlines()[1:] == [
        "  sinks.crm.url: host 'crm.invalid' cannot be resolved (Name or service not known)"
    ]


def without_unset(value: Any) -> Any:
    """What TOML can hold: the same values, settings left unset (None) left out."""
    if isinstance(value, dict):
        return {k: without_unset(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_unset(v) for v in value if v is not None]
    return value


def test_show_prints_the_effective_configuration_as_toml_or_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, GOOD)
    status, as_json, _ = run(capsys, "config", "show", "--config", str(config), "--format", "json")
    assert status == 0
    status, as_toml, _ = run(capsys, "config", "show", "--config", str(config))
    assert status == 0
    assert SECRET not in as_json + as_toml
    effective = json.loads(as_json)
    assert effective["sources"]["hook"]["token"] == "********"
    assert effective["daemon"]["listen"] == "127.0.0.1:8680"  # a default, filled in
    assert effective["sources"]["pbx"]["path"] == str(tmp_path)  # relative to the file
    assert as_toml.startswith(f"# {config} with every default filled in")
    assert "# public_url is not set" in as_toml
    assert tomllib.loads(as_toml) == without_unset(effective)
