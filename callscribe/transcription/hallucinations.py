"""Drop what Whisper invents rather than hears.

On silence, music on hold and line noise Whisper falls back on what it saw most in
training: subtitle credits («Продолжение следует...», «Субтитры сделал DimaTorzok») and
loops of one phrase repeated until the window ends.  Supervisors must not read these as
something the client said, so they are cut out of the text and counted in the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A phrase said this many times in a row is a decoding loop, not a person: four times
# for a word or two («да, да, да» is speech), three times for anything longer.
LOOP_REPEATS = 4
LOOP_REPEATS_LONG = 3
LONG_UNIT = 3  # words
LONGEST_LOOP_UNIT = 12  # words


def _tolerant(pattern: str) -> str:
    # Whisper writes «е» and «ё» interchangeably; so do the people who write patterns.
    return pattern.replace("ё", "е").replace("е", "[её]")


class HallucinationFilter:
    """Removes known invented phrases and repetition loops from segment text."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._phrases = [
            re.compile(r"[\s«\"]*" + _tolerant(p) + r"[\s,.!?…»\"-]*", re.IGNORECASE)
            for p in patterns
        ]

    def clean(self, text: str) -> tuple[str, int]:
        """The text without invented phrases and loops, and how many were removed."""
        removed = 0
        for phrase in self._phrases:
            text, count = phrase.subn(" ", text)
            removed += count
        text, loops = collapse_loops(text)
        return " ".join(text.split()), removed + loops


def _key(word: str) -> str:
    return word.strip(".,!?…:;«»\"'-").lower().replace("ё", "е")


def collapse_loops(text: str) -> tuple[str, int]:
    """Keep one copy of any run of words repeated ``LOOP_REPEATS`` or more times."""
    words = text.split()
    keys = [_key(w) for w in words]
    kept: list[str] = []
    loops = 0
    i = 0
    while i < len(words):
        unit = _loop_unit(keys, i)
        if unit:
            repeats = 1
            while keys[i + repeats * unit : i + (repeats + 1) * unit] == keys[i : i + unit]:
                repeats += 1
            kept.extend(words[i : i + unit])
            i += repeats * unit
            loops += 1
        else:
            kept.append(words[i])
            i += 1
    return " ".join(kept), loops


def _loop_unit(keys: list[str], start: int) -> int:
    """The shortest unit starting here that repeats often enough to be a loop, or 0."""
    for unit in range(1, LONGEST_LOOP_UNIT + 1):
        repeats = LOOP_REPEATS_LONG if unit >= LONG_UNIT else LOOP_REPEATS
        if start + repeats * unit > len(keys):
            continue
        first = keys[start : start + unit]
        if not any(first):
            continue
        if all(keys[start + k * unit : start + (k + 1) * unit] == first for k in range(1, repeats)):
            return unit
    return 0
