"""The languages Whisper models know, by the codes ``language`` takes.

The same list as faster-whisper's tokenizer (a test keeps them equal), kept here so that
checking a configuration does not import the speech model's libraries.
"""

from __future__ import annotations

_CODES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu "
    "ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk "
    "ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv "
    "sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue"
)
WHISPER_LANGUAGES = tuple(_CODES.split())


def check_language(value: str) -> str:
    """``value`` normalised, or ValueError listing the codes."""
    code = value.strip().lower()
    if code == "auto" or code in WHISPER_LANGUAGES:
        return code
    raise ValueError(
        f"unknown language {value!r}: use 'auto' (detect it) or one of "
        + ", ".join(WHISPER_LANGUAGES)
    )
