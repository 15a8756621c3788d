"""Each speaker's words as one stream of tokens that remember where they were written.

A client reading a card number in groups, with the operator's «да» in between, is one
stream across several segments: the other speaker's segments belong to another stream.
Every token keeps its segment and character offsets, so whatever is found in the stream
can be cut out of the right place of the right segment.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from math import inf

from callscribe.domain import Segment, Speaker


class Kind(enum.Enum):
    WORD = "word"
    DIGITS = "digits"
    FIGURE = "figure"  # digits with a mark inside: 15.03.2024, 14:30, 1.5, 12/25
    MARK = "mark"  # one character of punctuation or a symbol


# A comma between digits separates them: Whisper writes digits read one by one as
# «2,2,0,4» as often as «2, 2, 0, 4», and a decimal comma («1,5 тысячи») counts something.
_TOKEN = re.compile(
    r"(?P<figure>\d+(?:[.:/]\d+)+)|(?P<digits>\d+)|(?P<word>[^\W\d_]+)|(?P<mark>\S)"
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # lower case, ё as е
    segment: int  # index into the transcript's segments
    start: int  # character offsets in that segment's text
    end: int
    #: Seconds since this speaker's previous segment ended, on a segment's first token;
    #: None inside a segment.
    pause: float | None = None
    #: What the other speakers said since then (normalised), on a segment's first token.
    said_between: str = ""

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.text in words

    def is_mark(self, *marks: str) -> bool:
        return self.kind is Kind.MARK and self.text in marks


@dataclass(frozen=True, slots=True)
class Stream:
    """One speaker's tokens, in time order."""

    speaker: Speaker
    tokens: tuple[Token, ...]

    def adjacent(self, index: int) -> bool:
        """Whether token ``index`` follows token ``index - 1`` with only spaces between."""
        if index <= 0 or index >= len(self.tokens):
            return False
        before, token = self.tokens[index - 1], self.tokens[index]
        return token.pause is None and before.segment == token.segment


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``: vocabulary lists written as prose."""
    return frozenset(text.split())


def normalise(text: str) -> str:
    return text.lower().replace("ё", "е")


def tokenize(text: str, segment: int) -> list[Token]:
    return [
        Token(Kind(match.lastgroup), normalise(match.group()), segment, match.start(), match.end())
        for match in _TOKEN.finditer(text)
        if match.lastgroup
    ]


def speaker_streams(segments: Sequence[Segment]) -> list[Stream]:
    """One stream per speaker, each in the order its segments started."""
    order = sorted(range(len(segments)), key=lambda i: (segments[i].start, i))
    by_speaker: dict[Speaker, list[int]] = {}
    for index in order:
        by_speaker.setdefault(segments[index].speaker, []).append(index)
    streams = []
    for speaker, indices in by_speaker.items():
        tokens: list[Token] = []
        previous: int | None = None
        for index in indices:
            segment = segments[index]
            words = tokenize(segment.text, index)
            if words:
                words[0] = dataclasses.replace(
                    words[0],
                    pause=segment.start
                    - (segments[previous].end if previous is not None else -inf),
                    said_between=_others_between(segments, order, previous, index),
                )
            tokens += words
            previous = index
        streams.append(Stream(speaker, tuple(tokens)))
    return streams


def _others_between(
    segments: Sequence[Segment], order: Sequence[int], previous: int | None, current: int
) -> str:
    if previous is None:
        return ""
    speaker = segments[current].speaker
    first, last = order.index(previous), order.index(current)
    return normalise(
        " ".join(
            segments[i].text for i in order[first + 1 : last] if segments[i].speaker is not speaker
        )
    )
