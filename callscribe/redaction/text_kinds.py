"""Values found in the words rather than the digits: e-mail addresses (written, or
spoken as «иван точка петров собака мэйл точка ру») and the admin's own patterns."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from callscribe.config.redaction import RedactionPattern
from callscribe.domain import Segment
from callscribe.redaction.spans import Found, Piece, pieces_of
from callscribe.redaction.tokens import Kind, Stream, Token

_WRITTEN_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AT = frozenset({"собака", "собачка", "собаки", "эт", "at", "@"})
_DOT = frozenset({"точка", "."})
_JOINERS = _DOT | {"_", "-", "подчеркивание", "подчеркиванием", "нижнее", "дефис", "тире"}


def emails(segments: Sequence[Segment], streams: Sequence[Stream]) -> Iterator[Found]:
    for index, segment in enumerate(segments):
        for match in _WRITTEN_EMAIL.finditer(segment.text):
            yield Found("email", segment.speaker, (Piece(index, match.start(), match.end()),))
    for stream in streams:
        for at, token in enumerate(stream.tokens):
            if token.text in _AT and token.kind is not Kind.FIGURE:
                spoken = _spoken_email(stream, at)
                if spoken is not None:
                    yield Found("email", stream.speaker, pieces_of(spoken))


def _part(token: Token) -> bool:
    return token.kind in (Kind.WORD, Kind.DIGITS) and token.text not in _JOINERS | _AT


def _spoken_email(stream: Stream, at: int) -> tuple[Token, ...] | None:
    """The tokens of the address around the «собака» at ``at``: the local part is the word
    before it and what dots, underscores and dashes join to it; the domain must have a dot."""
    tokens = stream.tokens
    segment = tokens[at].segment
    first = at - 1
    if first < 0 or not _part(tokens[first]) or tokens[first].segment != segment:
        return None
    while first > 0 and tokens[first - 1].segment == segment:
        written_together = tokens[first - 1].end == tokens[first].start
        if _part(tokens[first - 1]) and (written_together or tokens[first].kind is Kind.DIGITS):
            first -= 1  # «petrov83», «иванов 1990»
            continue
        joiner = first - 1
        while joiner > 0 and tokens[joiner].text in _JOINERS:
            joiner -= 1
        if joiner == first - 1 or not _part(tokens[joiner]) or tokens[joiner].segment != segment:
            break
        first = joiner
    last, dots = at + 1, 0
    if last >= len(tokens) or not _part(tokens[last]) or tokens[last].segment != segment:
        return None
    while last + 2 < len(tokens) and tokens[last + 1].text in _DOT and _part(tokens[last + 2]):
        if tokens[last + 2].segment != segment:
            break
        last, dots = last + 2, dots + 1
    return tokens[first : last + 1] if dots else None


@functools.lru_cache(maxsize=64)
def _compiled(pattern: RedactionPattern) -> re.Pattern[str]:
    if pattern.regex is not None:
        return re.compile(pattern.regex, re.IGNORECASE)
    phrases = "|".join(r"\s+".join(map(re.escape, p.split())) for p in pattern.phrases)
    return re.compile(rf"(?<!\w)(?:{phrases})(?!\w)", re.IGNORECASE)


def user_patterns(
    segments: Sequence[Segment], patterns: Sequence[RedactionPattern], kinds: frozenset[str]
) -> Iterator[Found]:
    for pattern in patterns:
        if pattern.name not in kinds:
            continue
        compiled = _compiled(pattern)
        for index, segment in enumerate(segments):
            for match in compiled.finditer(segment.text):
                if match.end() > match.start():
                    piece = Piece(index, match.start(), match.end())
                    yield Found(pattern.name, segment.speaker, (piece,))
