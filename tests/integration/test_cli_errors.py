"""A user's mistake on the command line or in the configuration gets one plain line naming
what is wrong, and the documented exit status (2: usage or setup; 1: some work failed),
never a Python traceback.  Every subcommand is tried with bad arguments and bad files; a
new subcommand must add its rows here."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from callscribe import __version__
from callscribe.cli import SUBCOMMANDS, main
from tests.samples import EXAMPLES

WAV = str(EXAMPLES / "call-public-01.wav")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: str  # a piece of the message: the offending value or the fix
    status: int = 2


# Files the rows name, made in each test's own folder ({tmp} in the arguments).
FILES = {
    "typo.toml": '[daemon]\nstate_dir = "state"\nlistne = "127.0.0.1:1"\n',
    "broken.toml": "[daemon\n",
    "secret.toml": '[sources.pbx]\ntype = "generic"\ntoken = "env:CALLSCRIBE_TEST_UNSET"\n',
    "type.toml": '[sinks.x]\ntype = "zendesk"\n',
    "generic.toml": '[daemon]\nstate_dir = "state"\n[sources.pbx]\ntype = "generic"\n'
    'token = "0123456789abcdef0123"\n',
    "empty.toml": "",
    "nofolder.toml": '[sources.pbx]\ntype = "directory"\npath = "no-such-folder"\n'
    '[sinks.a]\ntype = "jsonl"\npath = "a.jsonl"\n[[routes]]\nsinks = ["a"]\n',
    "route.toml": '[sources.pbx]\ntype = "directory"\npath = "."\n'
    '[sinks.a]\ntype = "jsonl"\npath = "a.jsonl"\n[[routes]]\nsinks = ["a", "crm"]\n',
    "unresolvable.toml": '[sources.pbx]\ntype = "directory"\npath = "."\n'
    '[sinks.a]\ntype = "webhook"\nurl = "https://crm.invalid/calls"\n[[routes]]\nsinks = ["a"]\n',
    "existing": "",
    "page.wav": "<html>404</html>",
}

CASES = [
    Case((), "COMMAND"),
    Case(("frobnicate",), "frobnicate"),
    Case(("transcribe",), "FILE"),
    Case(("transcribe", "--language", "xx", WAV), "'xx'"),
    Case(("transcribe", "--threads", "-1", WAV), "--threads"),
    Case(("transcribe", "--threads", "many", WAV), "many"),
    Case(("transcribe", "--channels", "left,right", WAV), "left,right"),
    Case(("transcribe", "--format", "docx", WAV), "docx"),
    Case(("transcribe", "--output", "{tmp}/existing", WAV), "not a folder"),
    Case(("transcribe", "--device", "tpu", WAV), "tpu"),
    Case(("transcribe", "{tmp}/nowhere.wav"), "does not exist", 1),
    Case(("transcribe", "{tmp}/page.wav"), "page.wav", 1),
    Case(("run", "--config", "{tmp}/missing.toml"), "missing.toml"),
    Case(("run", "--config", "{tmp}/typo.toml"), "listne"),
    Case(("run", "--config", "{tmp}/broken.toml"), "broken.toml"),
    Case(("run", "--config", "{tmp}/secret.toml"), "CALLSCRIBE_TEST_UNSET"),
    Case(("run", "--config", "{tmp}/type.toml"), "zendesk"),
    Case(("config", "validate", "--config", "{tmp}/typo.toml"), "listne"),
    Case(("config", "validate", "--config", "{tmp}/broken.toml"), "broken.toml"),
    Case(("config", "validate", "--config", "{tmp}/empty.toml"), "no [sources.NAME] table"),
    Case(("config", "validate", "--config", "{tmp}/nofolder.toml"), "sources.pbx.path: the folder"),
    Case(("config", "validate", "--config", "{tmp}/route.toml"), "no sink named 'crm'"),
    Case(("config", "validate", "--config", "{tmp}/secret.toml"), "CALLSCRIBE_TEST_UNSET"),
    Case(
        ("config", "validate", "--online", "--config", "{tmp}/unresolvable.toml"),
        "sinks.a.url: host 'crm.invalid' cannot be resolved",
    ),
    Case(("config", "show", "--config", "{tmp}/missing.toml"), "missing.toml"),
    Case(("config", "show", "--format", "yaml", "--config", "{tmp}/generic.toml"), "yaml"),
    Case(("config", "frobnicate"), "frobnicate"),
    Case(("model", "install", "no-such-model"), "no-such-model"),
    Case(("model", "verify", "no-such-model"), "no-such-model"),
    Case(("calls", "--config", "{tmp}/missing.toml"), "missing.toml"),
    Case(("calls", "--config", "{tmp}/typo.toml"), "listne"),
    Case(("calls", "--state", "lost"), "lost"),
    Case(("calls", "--limit", "-3"), "-3"),
    Case(("calls", "show", "abc"), "abc"),
    Case(("routes", "test", "--call", "abc"), "abc"),
    Case(("routes", "test", "--call", "7", "--config", "{tmp}/typo.toml"), "listne"),
    Case(("routes", "frobnicate"), "frobnicate"),
    Case(("backfill", "--source", "pbx"), "--since"),
    Case(("backfill", "--source", "pbx", "--since", "yesterday"), "yesterday"),
    Case(
        ("backfill", "--source", "pbx", "--since", "2026-12-01", "--config", "{tmp}/typo.toml"),
        "listne",
    ),
    Case(
        ("backfill", "--source", "nope", "--since", "2026-12-01", "--config", "{tmp}/secret.toml"),
        "CALLSCRIBE_TEST_UNSET",
    ),
    Case(
        ("backfill", "--source", "nope", "--since", "2026-12-01", "--config", "{tmp}/generic.toml"),
        "nope",
    ),
    Case(
        ("backfill", "--source", "pbx", "--since", "2026-12-01", "--config", "{tmp}/generic.toml"),
        "pbx",
    ),
    Case(("sources", "uis-template", "pbx", "--config", "{tmp}/missing.toml"), "missing.toml"),
    Case(("sources", "uis-template", "pbx", "--config", "{tmp}/generic.toml"), "pbx"),
    Case(("sources", "uis-template"), "NAME"),
    Case(("deliveries", "--config", "{tmp}/missing.toml"), "missing.toml"),
    Case(("deliveries", "retry", "7", "--config", "{tmp}/typo.toml"), "listne"),
    Case(("deliveries", "--limit", "0"), "0 is not a positive number"),
    Case(("store",), "ACTION"),
    Case(("store", "migrate", "--config", "{tmp}/generic.toml"), "--to"),
    Case(("store", "migrate", "--to", "mysql://u@h/db"), "postgresql://"),
    Case(("store", "migrate", "--to", "postgresql://u:pw@h/db"), "[store] password"),
    Case(
        (
            "store",
            "migrate",
            "--to",
            "postgresql://u@h/db",
            "--password",
            "env:CALLSCRIBE_TEST_UNSET",
        ),
        "CALLSCRIBE_TEST_UNSET",
    ),
    Case(
        ("store", "migrate", "--to", "postgresql://u@h/db", "--config", "{tmp}/generic.toml"),
        "no SQLite database",
    ),
]


def test_every_subcommand_has_rows() -> None:
    tried = {case.args[0] for case in CASES if case.args}
    names = {module.__name__.rsplit(".", 1)[-1] for module in SUBCOMMANDS}
    assert names <= tried, f"no bad-input rows for {sorted(names - tried)}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(case.args) or "(none)")
def test_a_mistake_gets_one_plain_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process, as the console script runs it: an exception main() lets through
    # (what would print a traceback) fails the test by itself.
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in case.args]
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code if isinstance(exit_.code, int) else 2
    stderr = capsys.readouterr().err
    shown = f"callscribe {' '.join(args)}:\n{stderr}"
    assert status == case.status, shown
    assert case.says in stderr, shown


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callscribe", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"callscribe {__version__}"
