"""The redaction test set meets the issue's targets, and docs/redaction.md shows what it
measures (benchmarks/redaction.py prints the same tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.config.redaction import RedactionSettings
from callscribe.redaction.measure import Tally, false_share, load_cases, recall, score, table

DATA = Path(__file__).parent.parent / "data" / "redaction"
DOCS = Path(__file__).parent.parent.parent / "docs" / "redaction.md"
ON = RedactionSettings(enabled=True)


@pytest.fixture(scope="module")
def measured() -> Tally:
    return score(load_cases(DATA / "cases.jsonl"), ON.settings_for(None))


@pytest.fixture(scope="module")
def held_out() -> Tally:
    return score(load_cases(DATA / "heldout-audio.jsonl"), ON.settings_for(None))


def test_the_set_is_large_and_covers_every_kind_and_origin(measured: Tally) -> None:
    assert sum(measured.by_origin[o]["values"] for o in measured.by_origin) >= 200
    assert set(measured.by_origin) == {"generated", "samples", "hard", "audio"}
    assert all(measured.values[kind] >= 25 for kind in ON.settings_for(None).kinds)
    assert sum(measured.lookalikes.values()) >= 200


def test_targets(measured: Tally) -> None:
    assert recall(measured, "card") >= 0.98
    assert recall(measured) >= 0.95
    assert false_share(measured) <= 0.02


def test_held_out_calls_read_by_a_real_voice(held_out: Tally) -> None:
    # Below the targets, and docs/redaction.md says why; these floors catch a regression.
    assert recall(held_out) >= 0.85
    assert recall(held_out, "card") >= 0.8
    assert false_share(held_out) == 0


def test_the_docs_show_the_figures_measured(measured: Tally, held_out: Tally) -> None:
    docs = DOCS.read_text("utf-8")
    assert table(measured) in docs
    assert table(held_out) in docs


def test_the_scorer_sees_misses_and_false_redactions() -> None:
    cases = load_cases(DATA / "cases.jsonl")
    no_cards = RedactionSettings.model_validate({"enabled": True, "kinds": {"card": False}})
    missing = score(cases, no_cards.settings_for(None))
    assert recall(missing, "card") < 0.1
    assert any(line.endswith(": card") for line in missing.missed)
    greedy = RedactionSettings.model_validate(
        {"enabled": True, "kinds": {"number": True}, "number_digits": 4}
    )
    assert false_share(score(cases, greedy.settings_for(None))) > 0.2
