"""Precision and recall of redaction on a labelled set of transcripts (JSON lines).

One case per line::

    {"id": "card-0001", "origin": "generated", "about": "...", "duration": 31.5,
     "client_number": "+79161234567", "line_number": null,
     "segments": [{"speaker": "client", "start": 3.1, "end": 7.9, "text": "..."}],
     "values": [{"kind": "card", "pieces": [[0, 12, 31], [2, 0, 9]]}],
     "lookalikes": [{"kind": "amount", "pieces": [[1, 5, 30]]}]}

A piece is ``[segment index, first character, end character]`` of the text as written.
A value counts as found when every letter and digit of its pieces is redacted, by any
kind (a card hidden as a phone number is still hidden); a look-alike counts as falsely
redacted when any of its letters or digits is.  A redaction is correct when it overlaps
a labelled value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callscribe.config.redaction import BUILTIN_KINDS, RedactionPolicy
from callscribe.domain import CallEvent, Segment, Speaker, Transcript
from callscribe.redaction.redact import find
from callscribe.redaction.spans import Found, Piece


@dataclass(frozen=True, slots=True)
class Labelled:
    kind: str
    pieces: tuple[Piece, ...]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    origin: str
    transcript: Transcript
    event: CallEvent
    values: tuple[Labelled, ...]
    lookalikes: tuple[Labelled, ...]


@dataclass(slots=True)
class Tally:
    values: Counter[str] = field(default_factory=Counter)  # labelled, by kind
    found: Counter[str] = field(default_factory=Counter)  # of those, wholly redacted
    named: Counter[str] = field(default_factory=Counter)  # ... as their own kind
    redactions: Counter[str] = field(default_factory=Counter)  # made, by kind
    correct: Counter[str] = field(default_factory=Counter)  # of those, on a labelled value
    lookalikes: Counter[str] = field(default_factory=Counter)
    touched: Counter[str] = field(default_factory=Counter)  # look-alikes redacted
    by_origin: dict[str, Counter[str]] = field(default_factory=dict)  # values, found
    missed: list[str] = field(default_factory=list)  # "case id: kind"
    false: list[str] = field(default_factory=list)


def load_cases(path: Path) -> list[Case]:
    with path.open(encoding="utf-8") as lines:
        return [_case(json.loads(line)) for line in lines if line.strip()]


def _labelled(items: Iterable[dict[str, Any]]) -> tuple[Labelled, ...]:
    return tuple(
        Labelled(item["kind"], tuple(Piece(*piece) for piece in item["pieces"])) for item in items
    )


def _case(data: dict[str, Any]) -> Case:
    segments = tuple(
        Segment(Speaker(s["speaker"]), float(s["start"]), float(s["end"]), s["text"], 0.0, 0.0)
        for s in data["segments"]
    )
    event = CallEvent(
        source="measure",
        external_id=data["id"],
        client_number=data.get("client_number"),
        line_number=data.get("line_number"),
    )
    return Case(
        id=data["id"],
        origin=data["origin"],
        transcript=Transcript(segments, float(data["duration"]), "ru", "labelled"),
        event=event,
        values=_labelled(data.get("values", ())),
        lookalikes=_labelled(data.get("lookalikes", ())),
    )


def _characters(pieces: Iterable[Piece], segments: Sequence[Segment]) -> Iterator[tuple[int, int]]:
    """(segment, offset) of every letter and digit of the pieces."""
    for piece in pieces:
        text = segments[piece.segment].text
        for offset in range(piece.start, piece.end):
            if text[offset].isalnum():
                yield piece.segment, offset


def score(cases: Iterable[Case], policy: RedactionPolicy) -> Tally:
    tally = Tally()
    for case in cases:
        _score_case(tally, case, find(case.transcript, policy, case.event))
    return tally


def _score_case(tally: Tally, case: Case, found: Sequence[Found]) -> None:
    segments = case.transcript.segments
    hidden = {spot: made.kind for made in found for spot in _characters(made.pieces, segments)}
    labelled = {spot for value in case.values for spot in _characters(value.pieces, segments)}
    origin = tally.by_origin.setdefault(case.origin, Counter())
    for value in case.values:
        spots = list(_characters(value.pieces, segments))
        tally.values[value.kind] += 1
        origin["values"] += 1
        if spots and all(spot in hidden for spot in spots):
            tally.found[value.kind] += 1
            origin["found"] += 1
            tally.named[value.kind] += all(hidden[spot] == value.kind for spot in spots)
        else:
            tally.missed.append(f"{case.id}: {value.kind}")
    for lookalike in case.lookalikes:
        tally.lookalikes[lookalike.kind] += 1
        if any(spot in hidden for spot in _characters(lookalike.pieces, segments)):
            tally.touched[lookalike.kind] += 1
    for made in found:
        tally.redactions[made.kind] += 1
        if any(spot in labelled for spot in _characters(made.pieces, segments)):
            tally.correct[made.kind] += 1
        else:
            tally.false.append(f"{case.id}: {made.kind}")


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "—"


def table(tally: Tally) -> str:
    """The figures as Markdown tables: by kind, look-alikes, by origin."""
    kinds = [k for k in BUILTIN_KINDS if tally.values[k] or tally.redactions[k]]
    kinds += sorted((set(tally.values) | set(tally.redactions)) - set(kinds))
    lines = [
        "| kind | values | recall | named right | redactions | precision |",
        "|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        lines.append(
            f"| {kind} | {tally.values[kind]} | {_ratio(tally.found[kind], tally.values[kind])} "
            f"| {_ratio(tally.named[kind], tally.values[kind])} | {tally.redactions[kind]} "
            f"| {_ratio(tally.correct[kind], tally.redactions[kind])} |"
        )
    values, found = sum(tally.values.values()), sum(tally.found.values())
    made, correct = sum(tally.redactions.values()), sum(tally.correct.values())
    lines.append(
        f"| **all** | {values} | {_ratio(found, values)} "
        f"| {_ratio(sum(tally.named.values()), values)} | {made} | {_ratio(correct, made)} |"
    )
    lines += ["", "| look-alike | count | redacted | share |", "|---|---|---|---|"]
    for kind in sorted(tally.lookalikes):
        count, touched = tally.lookalikes[kind], tally.touched[kind]
        lines.append(f"| {kind} | {count} | {touched} | {_ratio(touched, count)} |")
    count, touched = sum(tally.lookalikes.values()), sum(tally.touched.values())
    lines.append(f"| **all** | {count} | {touched} | {_ratio(touched, count)} |")
    lines += ["", "| origin | values | recall |", "|---|---|---|"]
    for origin, counts in sorted(tally.by_origin.items()):
        lines.append(
            f"| {origin} | {counts['values']} | {_ratio(counts['found'], counts['values'])} |"
        )
    return "\n".join(lines) + "\n"


def recall(tally: Tally, kind: str | None = None) -> float:
    if kind is None:
        return sum(tally.found.values()) / max(1, sum(tally.values.values()))
    return tally.found[kind] / max(1, tally.values[kind])


def false_share(tally: Tally) -> float:
    """Share of look-alikes that were redacted."""
    return sum(tally.touched.values()) / max(1, sum(tally.lookalikes.values()))


__all__ = ["Case", "Tally", "false_share", "load_cases", "recall", "score", "table"]
