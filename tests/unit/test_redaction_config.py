"""[redaction] and its per-sink overrides (config/redaction.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.config.loader import load_settings
from callscribe.config.redaction import BUILTIN_KINDS, RedactionSettings
from callscribe.errors import ConfigError

SINKS = """
[sinks.archive]
type = "jsonl"
path = "archive.jsonl"

[sinks.helpdesk]
type = "webhook"
url = "https://helpdesk.example.com/hook"
"""


def settings_from(
    tmp_path: Path, text: str, environ: dict[str, str] | None = None
) -> RedactionSettings:
    path = tmp_path / "callscribe.toml"
    path.write_text(SINKS + text, encoding="utf-8")
    return load_settings(path, environ=environ or {}).redaction


def test_off_by_default_for_every_sink() -> None:
    policy = RedactionSettings().settings_for("anything")
    assert not policy.enabled
    assert not policy.audio
    assert policy.kinds == frozenset(BUILTIN_KINDS) - {"number"}


def test_the_archive_keeps_the_full_text_while_the_helpdesk_gets_it_redacted(
    tmp_path: Path,
) -> None:
    settings = settings_from(
        tmp_path,
        """
[redaction]
enabled = true
audio = true

[redaction.sinks.archive]
enabled = false

[redaction.sinks.helpdesk]
kinds = {email = false}
""",
    )
    archive, helpdesk = settings.settings_for("archive"), settings.settings_for("helpdesk")
    assert not archive.enabled
    assert not archive.audio  # no silencing without redaction
    assert helpdesk.enabled
    assert helpdesk.audio
    assert helpdesk.kinds == frozenset(BUILTIN_KINDS) - {"email", "number"}


def test_or_the_reverse(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "[redaction.sinks.archive]\nenabled = true\n")
    assert settings.settings_for("archive").enabled
    assert not settings.settings_for("helpdesk").enabled


def test_a_pattern_is_a_kind_a_sink_can_switch_off(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        """
[redaction]
enabled = true

[[redaction.patterns]]
name = "address"
phrases = ["улица Ленина"]
marker = "[адрес]"

[redaction.sinks.archive]
kinds = {address = false, card = false}
""",
    )
    assert "address" in settings.settings_for("helpdesk").kinds
    assert settings.settings_for("helpdesk").marker("address") == "[адрес]"
    assert not {"address", "card"} & settings.settings_for("archive").kinds


def test_the_environment_switches_it_on(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "", {"CALLSCRIBE_REDACTION__ENABLED": "true"})
    assert settings.settings_for("helpdesk").enabled


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[redaction.sinks.crm]\nenabled = true\n", "redaction.sinks.crm: no sink named 'crm'"),
        (
            "[redaction.sinks.archive]\nkinds = {cards = false}\n",
            "unknown kind 'cards'",
        ),
        (
            "[[redaction.patterns]]\nname = 'x'\nregex = '(unclosed'\n",
            "not a valid regular expression",
        ),
        ("[[redaction.patterns]]\nname = 'x'\nregex = 'a*'\n", "matches empty text"),
        ("[[redaction.patterns]]\nname = 'x'\n", "give either regex or phrases"),
        ("[[redaction.patterns]]\nname = 'card'\nregex = 'x'\n", "'card' is a built-in kind"),
        ("[[redaction.patterns]]\nname = 'Адрес'\nregex = 'x'\n", "lower-case Latin letters"),
        ("[redaction]\npadding_seconds = -1\n", "redaction.padding_seconds"),
        ("[redaction.markers]\ncard = ''\n", "redaction.markers.card"),
        ("[redaction.kinds]\niban = true\n", "redaction.kinds.iban: unknown setting"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, text)
    message = str(raised.value)
    assert problem in message
    assert "Value error" not in message


def test_the_cli_wants_redact_with_a_redaction_config(tmp_path: Path) -> None:
    from callscribe.cli import main  # noqa: PLC0415 - the parser, not the model

    config = tmp_path / "callscribe.toml"
    config.write_text("[redaction]\nenabled = true\n", encoding="utf-8")
    assert main(["transcribe", "x.wav", "--redaction-config", str(config)]) == 2
