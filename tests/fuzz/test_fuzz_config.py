"""The configuration loader (TOML file, environment overrides, validation into Settings),
against any file an admin or an editor accident can leave behind.

Its one documented refusal is ConfigError, with one line per problem naming the key.  The
base file has every kind of section whose values are parsed further (routes with
``where``, an HTTP sink's templates, vendor sources with secrets and networks); examples
are that file mutated as text, that file as data with values replaced anywhere in its
tree, and environment variables overriding keys.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callscribe.config.loader import load_settings
from callscribe.errors import ConfigError
from tests.fuzz.harness import FUZZ, Refused, checked
from tests.fuzz.strategies import WIRE_TEXT, mutated

TOKEN = "config-fuzz-token-0123456789abcdefghijklmnop"
BASE = f"""
[daemon]
state_dir = "state"
listen = "127.0.0.1:8680"

[transcription]
language = "ru"

[sources.pbx]
type = "generic"
token = "{TOKEN}"
allowed_ips = ["203.0.113.0/24"]

[sources.uis]
type = "uis"
token = "{TOKEN}"
recording_wait_seconds = 600

[sources.ct]
type = "calltouch"
token = "{TOKEN}"
site_id = "123"
client_api_id = "{TOKEN}"

[sinks.archive]
type = "jsonl"
path = "state/archive.jsonl"

[sinks.api]
type = "http"
url = "https://api.example.com/calls/{{call.external_id}}"
query.ts = "{{call.started_at|unix}}"
secrets.key = "literal-secret"
headers.Authorization = 'Key "{{secrets.key}}"'
body.customer.phone = "{{call.client_number|phone_e164}}"
body.text = "{{transcript.dialogue|truncate:2000}}"
body.deal = "{{fields.deal|number}}"

[[routes]]
sources = ["pbx", "uis"]
sinks = ["archive", "api"]
calls = "all"
[routes.where]
"fields.deal" = {{ exists = true }}
any = [{{ "call.talk_seconds" = {{ ge = 30 }} }}, {{ "raw.vip" = true }}]
not = {{ "call.client_number" = {{ regex = "^\\\\+7495" }} }}
"""
BASE_DATA = tomllib.loads(BASE)
FILES = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-fuzz")


def load(folder: Path, text: str | bytes, environ: dict[str, str] | None = None) -> None:
    path = folder / f"{next(FILES)}.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    refusal = ""
    try:
        checked(
            "config loader",
            load_settings,
            path,
            environ=environ or {},
            credentials_dir=folder,
            allowed=(ConfigError,),
        )
    except Refused as refused:
        refusal = str(refused.error)
    finally:
        path.unlink()
    assert "Value error," not in refusal  # pydantic's prefix is cleaned away


def test_the_base_file_loads(folder: Path) -> None:
    """The fuzzing starts from a file that is valid, so its mutations reach validation."""
    path = folder / "base.toml"
    path.write_text(BASE, "utf-8")
    settings = load_settings(path, environ={})
    assert set(settings.sinks) == {"archive", "api"}
    assert settings.routes[0].where is not None


# --- TOML written back from data, for the structured mutations ------------------------


def toml_value(value: Any) -> str:
    """One TOML value, tables inline (JSON's string escapes are TOML's too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in data.items())


LEAVES = st.one_of(
    st.none(),  # the key is dropped
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    WIRE_TEXT.filter(lambda t: all(not 0xD800 <= ord(c) <= 0xDFFF for c in t)),
    st.sampled_from(["credential:x", "file:/etc/shadow", "env:NOPE", "0.0.0.0:0", "::1",
                     "{call.nope}", "{secrets.other}", "{{", "https://", "999.1.1.1/33"]),
    st.lists(st.sampled_from(["pbx", "archive", "nope", 1, ""]), max_size=3),
    st.dictionaries(st.sampled_from(["gt", "regex", "in", "any", "x"]),
                    st.sampled_from([1, "(", [], True]), max_size=2),
)  # fmt: skip


@st.composite
def perturbed_tree(draw: st.DrawFn, value: Any) -> Any:
    """The same tree with a few values replaced (None drops the key)."""
    if isinstance(value, dict):
        result = {}
        for key, child in value.items():
            new = draw(perturbed_tree(child)) if draw(st.integers(0, 3)) else draw(LEAVES)
            if new is not None:
                result[key] = new
        return result
    if isinstance(value, list):
        return [draw(perturbed_tree(item)) for item in value]
    return value


@FUZZ
@given(perturbed_tree(BASE_DATA))
def test_the_configuration_with_any_value_replaced(folder: Path, data: dict[str, Any]) -> None:
    load(folder, toml_text(data))


@FUZZ
@given(mutated(BASE.encode()) | st.binary(max_size=500) | st.text(max_size=300))
@example(b"[daemon]\nlisten = 1\n[[routes]]\nsinks = []\n")
@example(b"\x80")  # not UTF-8
def test_the_configuration_file_mangled(folder: Path, text: str | bytes) -> None:
    load(folder, text)


ENV_NAMES = st.sampled_from(
    ["CALLSCRIBE_DAEMON__LISTEN", "CALLSCRIBE_SOURCES__PBX__TOKEN", "CALLSCRIBE_SINKS__API__URL",
     "CALLSCRIBE_SOURCES__PBX__ALLOWED_IPS", "CALLSCRIBE_ROUTES__0__SINKS", "CALLSCRIBE___",
     "CALLSCRIBE_DAEMON__LISTEN__X", "CALLSCRIBE_SINKS__NEW__TYPE", "CALLSCRIBE_X__Y"]
) | WIRE_TEXT.map(lambda name: "CALLSCRIBE_" + name)  # fmt: skip


@FUZZ
@given(st.dictionaries(ENV_NAMES, WIRE_TEXT, max_size=3))
@example({"CALLSCRIBE_DAEMON__LISTEN": "x", "CALLSCRIBE_DAEMON__LISTEN__PORT": "1"})
def test_environment_overrides(folder: Path, environ: dict[str, str]) -> None:
    environ = {k.replace("\x00", ""): v.replace("\x00", "") for k, v in environ.items()}
    load(folder, BASE, environ)
