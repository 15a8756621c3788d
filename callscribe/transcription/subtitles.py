"""Cut segments into subtitle cues the way subtitle guidelines ask: at most two lines of at
most 42 characters, at most 7 seconds on screen, lines broken between words only.

Segments carry no word times, so a cue's times are the segment's, shared out in proportion
to the characters each cue holds (speech runs at a roughly even rate within a segment).
A word longer than a line gets a line of its own rather than being cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from callscribe.domain import Segment, Speaker

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0


@dataclass(frozen=True, slots=True)
class Cue:
    speaker: Speaker
    start: float
    end: float
    lines: tuple[str, ...]


def cues(segments: Sequence[Segment], prefixes: dict[Speaker, str] | None = None) -> list[Cue]:
    """Every segment's cues, in order.  ``prefixes`` (a speaker label such as
    "Оператор: ") start each cue's first line and count towards its length."""
    prefixes = prefixes or {}
    return [
        cue
        for segment in segments
        for cue in _segment_cues(segment, prefixes.get(segment.speaker, ""))
    ]


def _segment_cues(segment: Segment, prefix: str) -> Iterator[Cue]:
    words = segment.text.split()
    if not words:
        return
    groups = _groups(words, prefix)
    duration = max(segment.end - segment.start, 0.0)
    # More cues while the even share of time still leaves one over the limit.
    while duration / len(groups) > MAX_CUE_SECONDS and any(len(g) > 1 for g in groups):
        groups = [half for group in groups for half in _halves(group)]
    weights = [sum(len(line) for line in _lines(group, prefix)) for group in groups]
    total = sum(weights)
    start = segment.start
    for group, weight in zip(groups, weights, strict=True):
        end = start + duration * weight / total
        yield Cue(segment.speaker, start, min(end, start + MAX_CUE_SECONDS), _lines(group, prefix))
        start = end


def _groups(words: list[str], prefix: str) -> list[list[str]]:
    """Words in as few cues of at most MAX_LINES lines as fit them, of even length where
    that fits too (greedy packing alone leaves a last cue of one word)."""
    greedy: list[list[str]] = [[]]
    for word in words:
        if len(_lines([*greedy[-1], word], prefix)) > MAX_LINES and greedy[-1]:
            greedy.append([])
        greedy[-1].append(word)
    even = _even_split(words, len(greedy))
    fits = all(len(_lines(group, prefix)) <= MAX_LINES for group in even)
    return even if fits else greedy


def _even_split(words: list[str], count: int) -> list[list[str]]:
    """``words`` in ``count`` runs of about the same number of characters."""
    total = sum(len(word) + 1 for word in words)
    groups: list[list[str]] = [[]]
    done = 0
    for word in words:
        if groups[-1] and done >= total * len(groups) / count and len(groups) < count:
            groups.append([])
        groups[-1].append(word)
        done += len(word) + 1
    return groups


def _lines(words: list[str], prefix: str) -> tuple[str, ...]:
    """Words broken into lines of at most MAX_LINE_CHARS; ``prefix`` starts the first."""
    lines: list[str] = []
    current = prefix.rstrip()
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= MAX_LINE_CHARS or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return tuple(lines)


def _halves(words: list[str]) -> list[list[str]]:
    if len(words) < 2:
        return [words]
    middle = len(words) // 2
    return [words[:middle], words[middle:]]
