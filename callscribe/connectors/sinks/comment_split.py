"""A comment cut into parts under a platform's size limit, each marked as callscribe's.

A long call is split between lines rather than cut: each part is headed «Расшифровка
звонка (часть 2 из 3)» and ends with a short marker line carrying the delivery key and the
part's number, so after a crash callscribe can tell from the ticket itself which parts are
already there (``exactly_once.py``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Markup = Literal["html", "text"]

MARKER_WORD = "callscribe"
# Room kept in every part for the heading's "(часть 999 из 999)" and the marker, so the
# parts can be cut before their number is known.
_LONGEST_PART_NOTE = " (часть 999 из 999)"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a comment; ``link`` is shown after the text (an anchor in HTML)."""

    text: str
    link: str | None = None

    def render(self, markup: Markup) -> str:
        if markup == "text":
            return f"{self.text} {self.link}" if self.link else self.text
        text = html.escape(self.text, quote=False)
        if self.link:
            href = html.escape(self.link)
            text += f' <a href="{href}">{href}</a>'
        return text


def render_lines(lines: Sequence[Line], markup: Markup) -> str:
    return _separator(markup).join(line.render(markup) for line in lines)


def marker(key: str, number: int, total: int) -> str:
    return f"{marker_prefix(key, number)}{total}"


def marker_prefix(key: str, number: int) -> str:
    """What identifies part ``number`` of the delivery with ``key`` in a posted comment
    (64 bits of the key: unique enough, short enough to go unnoticed)."""
    return f"{MARKER_WORD} {key.removeprefix('cs1-')[:16]} {number}/"


def compose(
    heading: str,
    head: Sequence[Line],
    body: Sequence[Line],
    *,
    key: str,
    markup: Markup,
    max_bytes: int,
) -> list[str]:
    """The comment(s) to post, each at most ``max_bytes`` (UTF-8): ``heading`` (with
    «(часть i из n)» when there are several), ``head`` in the first part only, ``body``
    cut between lines (a line longer than a part is cut between words), the marker last."""
    separator = _separator(markup)
    frame = [Line(heading + _LONGEST_PART_NOTE), Line(""), Line(marker(key, 999, 999))]
    budget = max_bytes - len(render_lines(frame, markup).encode("utf-8"))
    if budget < 200:
        raise ValueError(f"max_comment_bytes {max_bytes} leaves no room for the dialogue")
    lines = [*head, Line("")] if head and body else list(head)
    longest = budget - len(separator)
    lines += [piece for line in body for piece in _fitting(line, longest, markup)]
    chunks: list[list[Line]] = [[]]
    used = 0
    for line in lines:
        cost = len(line.render(markup).encode("utf-8")) + len(separator)
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        if not chunks[-1] and not line.text and not line.link:
            continue  # a part does not start with a blank line
        chunks[-1].append(line)
        used += cost
    total = len(chunks)
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        note = f" (часть {number} из {total})" if total > 1 else ""
        lines_of_part = [Line(heading + note), *chunk, Line(""), Line(marker(key, number, total))]
        parts.append(render_lines(lines_of_part, markup))
    return parts


def _fitting(line: Line, budget: int, markup: Markup) -> list[Line]:
    """``line``, or its words spread over several lines when it is longer than a part."""
    if len(line.render(markup).encode("utf-8")) <= budget:
        return [line]
    pieces: list[Line] = []
    words: list[str] = []
    for word in line.text.split(" "):
        candidate = " ".join([*words, word])
        if words and len(Line(candidate).render(markup).encode("utf-8")) > budget:
            pieces.append(Line(" ".join(words)))
            words = []
        words.append(_cut(word, budget, markup))
    pieces.append(Line(" ".join(words), line.link))
    return pieces


def _cut(word: str, budget: int, markup: Markup) -> str:
    # A "word" longer than a whole part is not speech; keep what fits.
    while len(Line(word).render(markup).encode("utf-8")) > budget:
        word = word[: len(word) * 3 // 4]
    return word


def _separator(markup: Markup) -> str:
    return "<br>" if markup == "html" else "\n"
