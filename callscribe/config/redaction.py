"""``[redaction]``: which personal data is hidden from transcripts before they leave, and
for which sinks (``[redaction.sinks.NAME]`` overrides the defaults for one sink)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from callscribe.config.base import ConfigModel

BUILTIN_KINDS: tuple[str, ...] = (
    "card", "cvc", "passport", "snils", "inn", "phone", "email", "number",
)  # fmt: skip
KIND_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class RedactionKinds(ConfigModel):
    """Which kinds of values are looked for: each can be switched off."""

    card: bool = Field(
        True,
        description="Payment card numbers: 13-19 digits passing the Luhn check, in digits or "
        "words, across pauses; after «карта» also with a digit misheard.",
    )
    cvc: bool = Field(
        True,
        description="Card security codes: 3-4 digits after «код на обороте», «три цифры», "
        "CVC, CVV, «код безопасности».",
    )
    passport: bool = Field(
        True, description="Passport series and number (4 + 6 digits) after «паспорт» or «серия»."
    )
    snils: bool = Field(
        True, description="SNILS: 11 digits with a valid checksum, or after «СНИЛС»."
    )
    inn: bool = Field(
        True, description="INN: 12 digits with valid check digits, or 10/12 digits after «ИНН»."
    )
    phone: bool = Field(
        True,
        description="Phone numbers other than the call's own client and line numbers.",
    )
    email: bool = Field(
        True, description="E-mail addresses, also spoken («иван точка петров собака мэйл ру»)."
    )
    number: bool = Field(
        False,
        description="Any other number of at least [redaction] number_digits digits: a safety "
        "net for card numbers Whisper misheard beyond recognition; hides order and account "
        "numbers too.",
    )


class RedactionMarkers(ConfigModel):
    """What a hidden value is replaced with in the text, by kind."""

    card: str = Field("[номер карты]", min_length=1, description="Marker of a card number.")
    cvc: str = Field("[CVC]", min_length=1, description="Marker of a card security code.")
    passport: str = Field("[паспорт]", min_length=1, description="Marker of a passport number.")
    snils: str = Field("[СНИЛС]", min_length=1, description="Marker of a SNILS number.")
    inn: str = Field("[ИНН]", min_length=1, description="Marker of an INN.")
    phone: str = Field("[телефон]", min_length=1, description="Marker of a phone number.")
    email: str = Field("[e-mail]", min_length=1, description="Marker of an e-mail address.")
    number: str = Field("[номер]", min_length=1, description="Marker of any other long number.")
    other: str = Field(
        "[скрыто]", min_length=1, description="Marker of a pattern that names none of its own."
    )


class RedactionPattern(ConfigModel):
    """A kind of your own: a regular expression or a list of phrases, matched in each
    segment's text as written (case does not matter)."""

    name: str = Field(description="Kind name, as listed in the transcript's redactions.")
    regex: str | None = Field(None, description="Python regular expression.")
    phrases: tuple[str, ...] = Field((), description="Words or phrases, matched as whole words.")
    marker: str | None = Field(None, description="Marker; default [redaction.markers] other.")

    @field_validator("name")
    @classmethod
    def _kind_name(cls, value: str) -> str:
        if not KIND_NAME.match(value):
            raise ValueError("names are lower-case Latin letters, digits, '-' and '_'")
        if value in BUILTIN_KINDS:
            raise ValueError(f"{value!r} is a built-in kind; choose another name")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if re.fullmatch(value, ""):
                raise ValueError("the regular expression matches empty text")
        return value

    @model_validator(mode="after")
    def _regex_or_phrases(self) -> RedactionPattern:
        if (self.regex is None) == (not self.phrases):
            raise ValueError(f"pattern {self.name!r}: give either regex or phrases")
        if any(not phrase.strip() for phrase in self.phrases):
            raise ValueError(f"pattern {self.name!r}: empty phrase")
        return self


class RedactionOverride(ConfigModel):
    """What one sink gets differently from the [redaction] defaults; unset keys inherit."""

    enabled: bool | None = Field(None, description="Redact what this sink receives.")
    audio: bool | None = Field(None, description="Silence the redacted spans in its audio.")
    kinds: dict[str, bool] = Field(
        default_factory=dict,
        description="Kinds switched on or off for this sink: built-in or pattern names, "
        "e.g. {phone = false}.",
    )


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """What one sink gets: resolved from the defaults and its override, hashable so the
    compiled detectors can be cached per policy."""

    enabled: bool
    audio: bool
    kinds: frozenset[str]
    markers: tuple[tuple[str, str], ...]  # (kind, marker): every built-in and pattern kind
    patterns: tuple[RedactionPattern, ...]
    padding_seconds: float
    number_digits: int = 8

    def marker(self, kind: str) -> str:
        return dict(self.markers)[kind]


class RedactionSettings(ConfigModel):
    """Personal data hidden from transcripts before a sink gets them: each found value
    becomes a marker in the text, listed (kind, speaker, time span; never the value) in the
    JSON transcript, and optionally silenced in the audio a sink receives."""

    enabled: bool = Field(
        False,
        description="Redact transcripts for every sink (override per sink in "
        "[redaction.sinks.NAME]). The database keeps the full text, under [retention].",
    )
    audio: bool = Field(
        False,
        description="Also silence the redacted spans in the recording a sink sends or links to.",
    )
    padding_seconds: float = Field(
        0.3,
        ge=0.0,
        le=5.0,
        description="Seconds added before and after the segments that hold a value: the span "
        "listed in the transcript and silenced in the audio.",
    )
    number_digits: int = Field(
        8,
        ge=4,
        le=40,
        description="With [redaction.kinds] number on: how many digits make a number to hide.",
    )
    kinds: RedactionKinds = Field(
        default_factory=RedactionKinds, description="Which kinds are looked for."
    )
    markers: RedactionMarkers = Field(
        default_factory=RedactionMarkers, description="What replaces each kind in the text."
    )
    patterns: tuple[RedactionPattern, ...] = Field(
        (), description="Kinds of your own: [[redaction.patterns]] with name and regex or phrases."
    )
    sinks: dict[str, RedactionOverride] = Field(
        default_factory=dict,
        description="Per-sink overrides, [redaction.sinks.NAME], NAME as in [sinks.NAME].",
    )

    @model_validator(mode="after")
    def _known_kinds(self) -> RedactionSettings:
        names = [pattern.name for pattern in self.patterns]
        if len(set(names)) != len(names):
            raise ValueError("patterns: two patterns have the same name")
        known = set(BUILTIN_KINDS) | set(names)
        problems = [
            f"sinks.{sink}.kinds: unknown kind {kind!r} (built-in: {', '.join(BUILTIN_KINDS)};"
            " or a pattern's name)"
            for sink, override in self.sinks.items()
            for kind in override.kinds
            if kind not in known
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def settings_for(self, sink: str | None = None) -> RedactionPolicy:
        """The policy for one sink (the defaults when it has no override, or for None)."""
        override = self.sinks.get(sink or "", RedactionOverride())
        switches: dict[str, bool] = self.kinds.model_dump()
        switches |= dict.fromkeys((p.name for p in self.patterns), True)
        switches |= override.kinds
        markers: Mapping[str, str] = self.markers.model_dump()
        enabled = self.enabled if override.enabled is None else override.enabled
        return RedactionPolicy(
            enabled=enabled,
            audio=enabled and (self.audio if override.audio is None else override.audio),
            kinds=frozenset(kind for kind, on in switches.items() if on),
            markers=tuple((kind, markers[kind]) for kind in BUILTIN_KINDS)
            + tuple((p.name, p.marker or self.markers.other) for p in self.patterns),
            patterns=self.patterns,
            padding_seconds=self.padding_seconds,
            number_digits=self.number_digits,
        )
