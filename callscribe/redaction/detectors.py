"""Which stretches of a run of digits are a card, a phone, a passport...

A run is read left to right.  At each group, a reading that a recent cue asked for
(«номер карты», «серия и номер паспорта») is taken whole, whatever its check digits say;
otherwise the stretches starting there are tried, longest first: one whose check digits
agree wins, else the longest that its cue or its shape names.  A stretch a cue names
must be set apart from the digits around it (a pause, a mark, a segment's edge), so
«45 12 345678 12» is not a passport; a checked one may be followed by more digits.

- card: 13-19 digits passing Luhn that start with 2-6 (Mir, Visa, Mastercard, Maestro,
  UnionPay, JCB, Amex) or follow a card cue; 16 digits starting with 2-6 whose Luhn digit
  was misheard; after a card cue, 10 digits or more;
- cvc: 3-4 digits after a CVC cue, or 3 right after a card;
- passport: after a passport cue, 4 digits or more (the series alone too);
- snils: 11 digits with a valid checksum that are not a phone number; after a SNILS cue,
  7 or more;
- inn: 12 digits with valid check digits; after «ИНН», 7 or more;
- phone: 11 digits starting 7/8 then 3, 4, 8 or 9; 10 starting with 9 (a mobile without
  the trunk prefix); 10-15 after a "+"; after a phone cue, 7 or 9-12.  The call's own client
  and line numbers are left as they are.

«номер заказа», «договор», «счёт», «добавочный»... said right before a number make it what
they say, checksum or not; said nearer than a kind's own cue, they outweigh it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callscribe.redaction import checksums
from callscribe.redaction.cues import Cues
from callscribe.redaction.numbers import Run

# Stretch lengths tried at each position, longest first.
_LENGTHS = tuple(range(19, 2, -1))
# How many digits a reading a cue names may have: Whisper drops a digit or two now and then,
# and a longer reading is hidden whole (the expiry date or the date of issue read on in the
# same breath, or Whisper repeating digits in a loop).  A phone number after «телефон» may
# be a city number without its code (7).
_LONGEST_SAID = 40
_SIZES_SAID = {
    "card": range(10, _LONGEST_SAID),
    "passport": range(4, _LONGEST_SAID),  # the series alone is half a passport
    "snils": range(7, _LONGEST_SAID),
    "inn": range(7, _LONGEST_SAID),
    "phone": (7, 9, 10, 11, 12),
}
# A match leaves out at most this many digits said after it in the same segment: a digit
# Whisper doubled or split off is part of the value, not a number of its own.
_STRAY_DIGITS = 2
_CARD_FIRST_DIGITS = "23456"
_PHONE_AREA_DIGITS = "3489"  # Russian area and mobile codes start with these


@dataclass(frozen=True, slots=True)
class Match:
    """Groups ``first`` to ``end - 1`` of a run are a ``kind`` (None: the call's own
    number, left as it is but not looked into further)."""

    kind: str | None
    first: int
    end: int


CuesAt = Callable[[int], Cues]
"""The cues said before group N of a run (a run can hold a card, the operator's «и код на
обороте», then the code: each stretch has the cues said before it)."""


def classify_run(run: Run, cues_at: CuesAt, own_numbers: frozenset[str]) -> list[Match]:
    """The stretches of ``run`` that are something, in order (kind None: the call's own
    number, to be left as it is)."""
    starts = [0]
    for group in run.groups:
        starts.append(starts[-1] + len(group.digits))
    found: list[Match] = []
    first = 0
    while first < len(run.groups):
        match = _match_at(run, first, starts, cues_at(first), found)
        if match is None:
            first += 1
            continue
        match = _with_strays(run, match, starts)
        stretch = run.digits[starts[match.first] : starts[match.end]]
        own = match.kind == "phone" and stretch[-10:] in own_numbers
        found.append(Match(None if own else match.kind, match.first, match.end))
        first = match.end
    return found


def unmatched(run: Run, matches: list[Match], at_least: int) -> list[Match]:
    """The stretches between ``matches`` that hold at least ``at_least`` digits, as
    matches of kind ``number``."""
    edges = [0, *(edge for m in matches for edge in (m.first, m.end)), len(run.groups)]
    gaps = []
    for first, end in zip(edges[::2], edges[1::2], strict=True):
        if sum(len(g.digits) for g in run.groups[first:end]) >= at_least:
            gaps.append(Match("number", first, end))
    return gaps


def _match_at(
    run: Run, first: int, starts: list[int], cues: Cues, found: list[Match]
) -> Match | None:
    """The stretch from group ``first`` that is something: one whose check digits agree
    if there is any, else the first the cues or its shape make something."""
    ends = {starts[end] - starts[first]: end for end in range(first + 1, len(run.groups) + 1)}
    after_card = bool(found) and found[-1].end == first and found[-1].kind == "card"
    clean_start = first == 0 or _apart(run, first) or (bool(found) and found[-1].end == first)
    if clean_start:
        # A reading a cue asked for («номер карты», «серия и номер»), to its end, is that
        # value whatever its check digits say: Whisper mishears a digit now and then.
        whole = run.digits[starts[first] :]
        said = _said(whole, cues, after_card=after_card)
        if said is not None:
            return Match(said, first, len(run.groups))
    fallback: Match | None = None
    for length in _LENGTHS:
        end = ends.get(length)
        if end is None:
            continue
        clean = clean_start and (end == len(run.groups) or _apart(run, end))
        stretch = run.digits[starts[first] : starts[end]]
        kind, verified = _kind(
            stretch,
            run.plus and first == 0,
            cues,
            clean_start=clean_start,
            clean=clean,
            after_card=after_card,
        )
        if kind is not None and verified:
            return Match(kind, first, end)
        if kind is not None and fallback is None:
            fallback = Match(kind, first, end)
    return fallback


def _with_strays(run: Run, match: Match, starts: list[int]) -> Match:
    """``match`` with the few digits said after it in the same segment."""
    end = match.end
    segment = run.stream.tokens[run.groups[end - 1].last].segment
    while end < len(run.groups) and run.stream.tokens[run.groups[end].first].segment == segment:
        end += 1
    if end > match.end and starts[end] - starts[match.end] <= _STRAY_DIGITS:
        return Match(match.kind, match.first, end)
    return match


def _apart(run: Run, boundary: int) -> bool:
    """Whether something besides a space separates group ``boundary`` from the one before."""
    return not run.stream.adjacent(run.groups[boundary].first) or (
        run.groups[boundary].first != run.groups[boundary - 1].last + 1
    )


def _kind(
    digits: str, plus: bool, cues: Cues, *, clean_start: bool, clean: bool, after_card: bool
) -> tuple[str | None, bool]:
    """What ``digits`` are, and whether check digits say so.  ``clean_start``: nothing but
    a pause or a mark before them; ``clean``: after them too."""
    size = len(digits)
    if plus and 10 <= size <= 15:
        return "phone", False
    verified = _verified(digits, cues) if clean_start else None
    if verified is not None:
        return verified, True
    if clean:
        said = _said(digits, cues, after_card=after_card)
        if said is not None:
            return said, False
    return _shaped(digits, cues, clean=clean), False


def _verified(digits: str, cues: Cues) -> str | None:
    """A kind whose check digits agree (and which no «номер заказа» right before denies)."""
    size = len(digits)
    if cues.near("other"):
        return None
    card_like = digits[0] in _CARD_FIRST_DIGITS or cues.favours("card")
    if 13 <= size <= 19 and checksums.luhn(digits) and card_like:
        return "card"
    if _phone_shaped(digits):
        return None
    if size == 12 and checksums.inn(digits):
        return "inn"
    if size == 11 and checksums.snils(digits):
        return "snils"
    return None


def _said(digits: str, cues: Cues, *, after_card: bool) -> str | None:
    """The kind the nearest cue names, if the digits are about as many as it has: Whisper
    drops or doubles a digit now and then, and a number read out after «номер карты» or
    «серия и номер паспорта» is hidden even so."""
    size = len(digits)
    if size in (3, 4) and (cues.favours("cvc") or (after_card and size == 3)):
        return "cvc"
    named = [kind for kind, sizes in _SIZES_SAID.items() if size in sizes]
    label = cues.nearest(*named, "other") if named else None
    return label if label not in (None, "other") and cues.recent(label) else None


def _shaped(digits: str, cues: Cues, *, clean: bool) -> str | None:
    """A phone number by its shape, or a card number of the usual length and first digit
    whose Luhn digit was misheard."""
    if cues.near("other"):
        return None
    size = len(digits)
    if _phone_shaped(digits) or (size == 10 and digits[0] == "9"):
        return "phone"
    if size == 16 and clean and digits[0] in _CARD_FIRST_DIGITS:
        return "card"
    return None


def _phone_shaped(digits: str) -> bool:
    """Eleven digits of a Russian number with its trunk prefix: 8 or 7, then an area or
    mobile code."""
    return len(digits) == 11 and digits[0] in "78" and digits[1] in _PHONE_AREA_DIGITS
