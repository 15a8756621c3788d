"""Transcripts written by hand for tests: ``dialogue("o: Назовите номер карты.", "c: ...")``."""

from __future__ import annotations

from callscribe.domain import Segment, Speaker, Transcript

SPEAKERS = {"o": Speaker.OPERATOR, "c": Speaker.CLIENT, "u": Speaker.UNKNOWN}


def dialogue(*lines: str, gap: float = 0.5, seconds_per_line: float = 3.0) -> Transcript:
    """One segment per line, ``gap`` seconds apart; a line "pause: 12" waits that long."""
    segments, clock = [], 0.0
    for line in lines:
        who, _, text = line.partition(":")
        if who == "pause":
            clock += float(text)
            continue
        start = clock + gap
        segments.append(
            Segment(SPEAKERS[who.strip()], start, start + seconds_per_line, text.strip(), 0.0, 0.0)
        )
        clock = start + seconds_per_line
    return Transcript(tuple(segments), clock + 1.0, "ru", "test")
