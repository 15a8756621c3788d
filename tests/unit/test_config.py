from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.config.base import Secret
from callscribe.config.loader import load_settings
from callscribe.config.reference import markdown
from callscribe.domain import CallEvent, Direction, RecordingRef
from callscribe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TOKEN = "a-token-of-twenty-chars"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callscribe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_configuration_is_valid() -> None:
    settings = load_settings(REPO / "examples" / "callscribe.toml", environ={})
    assert settings.daemon.state_dir == REPO / "examples" / "state"
    assert list(settings.sources) == ["inbox"]


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[daemon]\nstate_dir = "state"\n')
    assert load_settings(path, environ={}).daemon.state_dir == tmp_path / "state"


def test_environment_overrides_single_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[sinks.archive]\ntype = "jsonl"\npath = "a.jsonl"\n')
    environ = {
        "CALLSCRIBE_DAEMON__LISTEN": "0.0.0.0:9000",
        "CALLSCRIBE_DAEMON__FETCH_WORKERS": "2",
        "CALLSCRIBE_SINKS__ARCHIVE__PATH": "/srv/b.jsonl",
        "CALLSCRIBE_MODEL_DIR": "/not/a/config/key",
    }
    settings = load_settings(path, environ=environ)
    assert settings.daemon.listen == "0.0.0.0:9000"
    assert settings.daemon.fetch_workers == 2
    assert settings.sinks["archive"].path == Path("/srv/b.jsonl")


def test_secrets_come_from_credentials_files_and_environment(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "pbx-token").write_text(TOKEN + "\n")
    path = write(
        tmp_path,
        '[sources.a]\ntype = "generic"\ntoken = "credential:pbx-token"\n'
        '[sources.b]\ntype = "generic"\ntoken = "env:B_TOKEN"\n',
    )
    settings = load_settings(
        path, environ={"B_TOKEN": TOKEN + "-b", "CREDENTIALS_DIRECTORY": str(credentials)}
    )
    assert settings.sources["a"].token == Secret(TOKEN)
    assert settings.sources["b"].token.reveal() == TOKEN + "-b"
    assert TOKEN not in repr(settings)
    assert TOKEN not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[daemon]\nlisen = '127.0.0.1:1'\n", "daemon.lisen: unknown setting (a typo?)"),
        ("[daemon]\nlisten = 'nowhere'\n", "daemon.listen: expected host:port"),
        ("[sinks.a]\ntype = 'jsonl'\n", "sinks.a.path: Field required"),
        ("[sinks.a]\ntype = 'carrier-pigeon'\n", "sinks.a: Input tag 'carrier-pigeon'"),
        ("[[routes]]\nsinks = ['nowhere']\n", "routes[0].sinks: no sink named 'nowhere'"),
        ("[sources.a]\ntype = 'generic'\ntoken = 'short'\n", "sources.a.token"),
        ("[sources.a]\ntype = 'generic'\ntoken = 'credential:x'\n", "no credentials directory"),
        ("[sources.Bad_Name]\ntype = 'directory'\npath = '.'\n", "sources.Bad_Name: names are"),
        ("[transcription]\nchannels = ['client', 'client']\n", "must be different speakers"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_problems_are_reported_with_the_key_path(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), environ={})
    assert complaint in str(raised.value)
    assert str(tmp_path / "callscribe.toml") in str(raised.value)


def test_a_secret_is_not_echoed_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            write(tmp_path, "[sources.a]\ntype = 'generic'\ntoken = 'hunter2'\n"), environ={}
        )
    assert "hunter2" not in str(raised.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_routes_pick_sinks_by_source_direction_and_recording(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[sinks.all]
type = "jsonl"
path = "a"
[sinks.inbound]
type = "jsonl"
path = "b"
[sinks.missed]
type = "jsonl"
path = "c"
[[routes]]
sinks = ["all"]
[[routes]]
sinks = ["inbound", "all"]
directions = ["inbound"]
min_talk_seconds = 10
[[routes]]
sinks = ["missed"]
calls = "missed"
""",
    )
    from callscribe.config.routes import sinks_for  # noqa: PLC0415

    routes = load_settings(path, environ={}).routes
    recorded = RecordingRef("https://pbx.example/1.wav")
    inbound = CallEvent("pbx", "1", Direction.INBOUND, recordings=(recorded,))
    missed = CallEvent("pbx", "2", Direction.INBOUND)
    assert sinks_for(routes, inbound) == ["all", "inbound"]
    assert sinks_for(routes, missed) == ["missed"]
    outbound = CallEvent("pbx", "3", Direction.OUTBOUND, recordings=(recorded,))
    assert sinks_for(routes, outbound) == ["all"]


def test_the_configuration_reference_in_docs_is_up_to_date() -> None:
    documented = (REPO / "docs" / "configuration.md").read_text("utf-8")
    assert documented == markdown(), "run: callscribe config reference > docs/configuration.md"


def test_store_and_node_settings(tmp_path: Path) -> None:
    (tmp_path / "pg").write_text("canary-pg-password\n")
    text = f"""
[store]
url = "postgresql://callscribe@db.example.com:5433/calls"
password = "file:{tmp_path / "pg"}"

[node]
roles = ["transcribe", "deliver"]
"""
    settings = load_settings(write(tmp_path, text), environ={})
    assert settings.store.url == "postgresql://callscribe@db.example.com:5433/calls"
    assert settings.store.password is not None
    assert settings.store.password.reveal() == "canary-pg-password"
    assert "canary" not in repr(settings)
    assert [role.value for role in settings.node.roles] == ["transcribe", "deliver"]
    default = load_settings(write(tmp_path, ""), environ={})
    assert default.store.url is None  # SQLite in state_dir
    assert {role.value for role in default.node.roles} == {
        "intake",
        "sources",
        "transcribe",
        "deliver",
    }


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ('[store]\nurl = "postgresql://u:canary@h/db"', "store.url", "password"),
        ('[store]\nurl = "mysql://u@h/db"', "store.url", "postgresql://"),
        ('[store]\nurl = "postgresql://u@h"', "store.url", "database"),
        ('[node]\nroles = ["intake", "gpu"]', "node.roles", "transcribe"),
        ("[node]\nroles = []", "node.roles", "at least 1"),
    ],
)
def test_store_and_node_mistakes_name_the_key(
    tmp_path: Path, text: str, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), environ={})
    message = str(raised.value)
    assert key in message
    assert says in message
    assert "canary" not in message
    assert "Value error" not in message
