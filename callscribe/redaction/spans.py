"""Where a found value was written, and how it is cut out.

A value is one or more *pieces*: character ranges of segments (a card read over three
segments is three pieces).  Each piece becomes the kind's marker.  Its time span is the
whole of the segments that hold it, widened by the padding: segments carry no word times,
and a span guessed from character positions inside a segment could leave a digit audible
where the audio is silenced.  The span listed is the span silenced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from callscribe.domain import Redaction, Segment, Speaker
from callscribe.redaction.tokens import Kind, Token


@dataclass(frozen=True, slots=True, order=True)
class Piece:
    segment: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Found:
    """A value to hide: its kind, who said it, and where it was written."""

    kind: str
    speaker: Speaker
    pieces: tuple[Piece, ...]


def pieces_of(tokens: Iterable[Token]) -> tuple[Piece, ...]:
    """One piece per segment, from its first token to its last; the commas and stops
    around the pieces of a value read over several segments stay in the text."""
    ranges: dict[int, tuple[int, int]] = {}
    for token in tokens:
        if token.kind is Kind.MARK and token.text != "+":
            continue
        start, end = ranges.get(token.segment, (token.start, token.end))
        ranges[token.segment] = (min(start, token.start), max(end, token.end))
    return tuple(Piece(segment, start, end) for segment, (start, end) in sorted(ranges.items()))


def without_overlaps(found: Sequence[Found], rank: Callable[[str], int]) -> list[Found]:
    """Drop what another value already covers; of two overlapping values the higher-ranked
    kind (lower ``rank``) is kept whole, the other keeps what only it covers."""
    covered: dict[int, list[tuple[int, int]]] = {}
    kept: list[Found] = []
    for value in sorted(found, key=lambda f: (rank(f.kind), f.pieces)):
        pieces = tuple(
            piece
            for piece in value.pieces
            if not any(
                s <= piece.start and piece.end <= e for s, e in covered.get(piece.segment, [])
            )
        )
        if pieces:
            kept.append(dataclasses.replace(value, pieces=pieces))
            for piece in pieces:
                covered.setdefault(piece.segment, []).append((piece.start, piece.end))
    return sorted(kept, key=lambda f: f.pieces)


def masked(
    segments: Sequence[Segment], found: Sequence[Found], marker: Callable[[str], str]
) -> tuple[Segment, ...]:
    """The segments with every piece replaced by its kind's marker; overlapping pieces
    become one marker (of the value listed first)."""
    cuts: dict[int, list[tuple[int, int, str]]] = {}
    for value in found:
        for piece in value.pieces:
            cuts.setdefault(piece.segment, []).append((piece.start, piece.end, value.kind))
    result = list(segments)
    for index, pieces in cuts.items():
        text = segments[index].text
        out, position = [], 0
        for start, end, kind in sorted(pieces):
            if end <= position:
                continue
            if start >= position:
                out += [text[position:start], marker(kind)]
            position = max(position, end)
        out.append(text[position:])
        result[index] = dataclasses.replace(segments[index], text="".join(out))
    return tuple(result)


def redaction_of(
    value: Found, segments: Sequence[Segment], padding: float, duration: float
) -> Redaction:
    held = [segments[piece.segment] for piece in value.pieces]
    start = max(0.0, min(s.start for s in held) - padding)
    end = max(s.end for s in held) + padding
    if duration > 0:
        end = min(duration, end)
    return Redaction(value.kind, value.speaker, round(start, 3), round(end, 3))
