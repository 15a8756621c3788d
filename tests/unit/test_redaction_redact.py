"""redact(): markers in the text, what was hidden listed without its value, per policy."""

from __future__ import annotations

import json

from callscribe.config.redaction import RedactionPattern, RedactionSettings
from callscribe.domain import Redaction, Speaker
from callscribe.redaction import redact
from callscribe.transcription.render import from_json_dict, render, to_json_dict
from tests.dialogue import dialogue

ON = RedactionSettings(enabled=True)
CALL = dialogue(
    "o: Продиктуйте номер карты.",
    "c: Да, 4276 3800",
    "o: Угу.",
    "c: 1234 5679. И телефон +7 916 123-45-67.",
    "o: Спасибо, с вас 12 500 рублей.",
)


def test_values_become_markers_and_nothing_else_changes() -> None:
    redacted = redact(CALL, ON.settings_for(None))
    assert [s.text for s in redacted.segments] == [
        "Продиктуйте номер карты.",
        "Да, [номер карты]",
        "Угу.",
        "[номер карты]. И телефон [телефон].",
        "Спасибо, с вас 12 500 рублей.",
    ]
    for before, after in zip(CALL.segments, redacted.segments, strict=True):
        assert (before.speaker, before.start, before.end) == (after.speaker, after.start, after.end)
    assert (redacted.duration, redacted.language, redacted.model) == (
        CALL.duration,
        CALL.language,
        CALL.model,
    )


def test_what_was_hidden_is_listed_with_the_span_of_its_segments() -> None:
    redacted = redact(CALL, ON.settings_for(None))
    card_first, card_last = CALL.segments[1], CALL.segments[3]
    assert redacted.redactions == (
        Redaction("card", Speaker.CLIENT, card_first.start - 0.3, card_last.end + 0.3),
        Redaction("phone", Speaker.CLIENT, card_last.start - 0.3, card_last.end + 0.3),
    )


def test_spans_are_padded_within_the_recording() -> None:
    call = dialogue("c: 4276 3800 1234 5679", gap=0.1, seconds_per_line=2.0)
    settings = RedactionSettings(enabled=True, padding_seconds=1.5)
    (span,) = redact(call, settings.settings_for(None)).redactions or ()
    assert (span.start, span.end) == (0.0, call.duration)


def test_the_json_lists_kinds_and_times_but_never_the_values() -> None:
    redacted = redact(CALL, ON.settings_for(None))
    document = to_json_dict(redacted)
    assert document["redactions"] == [
        {"kind": r.kind, "speaker": "client", "start": r.start, "end": r.end}
        for r in redacted.redactions or ()
    ]
    text = json.dumps(document, ensure_ascii=False) + render(redacted, "text")
    for value in ("4276", "3800", "5679", "916", "45-67"):
        assert value not in text
    assert from_json_dict(document).redactions == redacted.redactions


def test_a_transcript_as_heard_has_no_redactions_key_and_one_redacted_clean_has_an_empty_list() -> (
    None
):
    assert "redactions" not in to_json_dict(CALL)
    clean = redact(dialogue("c: Добрый день."), ON.settings_for(None))
    assert to_json_dict(clean)["redactions"] == []
    assert from_json_dict(to_json_dict(CALL)).redactions is None


def test_redaction_off_returns_the_transcript_untouched() -> None:
    assert redact(CALL, RedactionSettings().settings_for(None)) is CALL


def test_kinds_switched_off_stay_and_markers_are_configurable() -> None:
    settings = RedactionSettings.model_validate(
        {"enabled": True, "kinds": {"phone": False}, "markers": {"card": "[КАРТА]"}}
    )
    texts = [s.text for s in redact(CALL, settings.settings_for(None)).segments]
    assert texts[3] == "[КАРТА]. И телефон +7 916 123-45-67."


def test_patterns_of_the_admins_own() -> None:
    settings = RedactionSettings(
        enabled=True,
        patterns=(
            RedactionPattern(name="address", phrases=("улица Ленина", "Ленинский проспект")),
            RedactionPattern(name="contract", regex=r"№\s?\d+/\d+", marker="[договор]"),
        ),
    )
    call = dialogue(
        "c: Живу на УЛИЦА   ленина, дом 5, договор №12/2024.", "c: Улица Ленинградская."
    )
    redacted = redact(call, settings.settings_for(None))
    assert [s.text for s in redacted.segments] == [
        "Живу на [скрыто], дом 5, договор [договор].",
        "Улица Ленинградская.",
    ]
    assert [r.kind for r in redacted.redactions or ()] == ["address", "contract"]


def test_a_value_two_kinds_claim_is_one_marker_of_the_stronger_kind() -> None:
    settings = RedactionSettings(
        enabled=True, patterns=(RedactionPattern(name="digits", regex=r"\d{4}"),)
    )
    redacted = redact(dialogue("c: Карта 4276 3800 1234 5679."), settings.settings_for(None))
    assert redacted.segments[0].text == "Карта [номер карты]."
    assert [r.kind for r in redacted.redactions or ()] == ["card"]
