"""Latin letters that look Cyrillic, put back into the Cyrillic words they crept into.

Whisper's byte-level vocabulary can spell a Russian word with a Latin letter in it («достигнутe»
with a Latin "e", seen on generated calls): it reads right but breaks search and looks like a
typo in the helpdesk.  No Russian word mixes the two scripts, so a word with Cyrillic letters
whose Latin letters all have a Cyrillic twin is written in Cyrillic throughout.  A word with
any other Latin letter («iPhone-а») is left as Whisper wrote it.
"""

from __future__ import annotations

import re

_LATIN = "aceopxyABCEHKMOPTX"
_CYRILLIC = "асеорхуАВСЕНКМОРТХ"
_TWINS = str.maketrans(_LATIN, _CYRILLIC)
_HAS_TWIN = frozenset(_LATIN)
_WORD = re.compile(r"\w+")


def cyrillic_throughout(text: str) -> str:
    """``text`` with each mixed-script word's Latin lookalikes made Cyrillic."""
    return _WORD.sub(_fix_word, text)


def _fix_word(match: re.Match[str]) -> str:
    word = match.group()
    latin = {char for char in word if char.isascii() and char.isalpha()}
    if not latin or not latin <= _HAS_TWIN or not any(is_cyrillic(char) for char in word):
        return word
    return word.translate(_TWINS)


def is_cyrillic(char: str) -> bool:
    """A letter of the Cyrillic blocks (U+0400-U+052F: Russian and its neighbours)."""
    return "\u0400" <= char <= "\u052f"
