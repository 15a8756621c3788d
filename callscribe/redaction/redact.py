"""Hide personal data in a transcript: the one function the delivery path calls.

:func:`redact` returns the transcript with every value found replaced by its kind's
marker and :attr:`~callscribe.domain.Transcript.redactions` listing what was hidden
(kind, speaker, time span; never the value).  Timestamps, speakers and segment order stay.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from callscribe.config.redaction import BUILTIN_KINDS, RedactionPolicy
from callscribe.domain import CallEvent, Transcript
from callscribe.redaction.cues import Cues, cues_around
from callscribe.redaction.detectors import classify_run, unmatched
from callscribe.redaction.numbers import Run, number_runs
from callscribe.redaction.spans import Found, masked, pieces_of, redaction_of, without_overlaps
from callscribe.redaction.text_kinds import emails, user_patterns
from callscribe.redaction.tokens import Token, speaker_streams

_SHORTEST = 3  # digits: no kind has fewer (a CVC)
_OWN_DIGITS = 10  # a phone number is the same number whatever its prefix: +7, 8 or none


def redact(
    transcript: Transcript, policy: RedactionPolicy, event: CallEvent | None = None
) -> Transcript:
    """``transcript`` as ``policy`` says a sink may see it (unchanged when the policy is
    off).  ``event`` gives the call's own numbers, which are not hidden."""
    if not policy.enabled:
        return transcript
    found = find(transcript, policy, event)
    return dataclasses.replace(
        transcript,
        segments=masked(transcript.segments, found, policy.marker),
        redactions=tuple(
            redaction_of(value, transcript.segments, policy.padding_seconds, transcript.duration)
            for value in found
        ),
    )


def find(
    transcript: Transcript, policy: RedactionPolicy, event: CallEvent | None = None
) -> list[Found]:
    """Every value of the policy's kinds in ``transcript``, in order, none overlapping."""
    segments = transcript.segments
    streams = speaker_streams(segments)
    own = own_numbers(event)
    found: list[Found] = []
    for stream in streams:
        for run in number_runs(stream):
            if len(run.digits) < _SHORTEST:
                continue
            last = stream.tokens[run.groups[-1].last]

            @functools.cache
            def cues_at(group: int, run: Run = run, last: Token = last) -> Cues:
                return cues_around(segments, run.stream.tokens[run.groups[group].first], last)

            matches = classify_run(run, cues_at, own)
            if "number" in policy.kinds:
                matches += unmatched(run, matches, policy.number_digits)
            found += [
                Found(match.kind, stream.speaker, pieces_of(run.tokens(match.first, match.end)))
                for match in matches
                if match.kind in policy.kinds
            ]
    if "email" in policy.kinds:
        found += emails(segments, streams)
    found += user_patterns(segments, policy.patterns, policy.kinds)
    return without_overlaps(found, _rank)


def own_numbers(event: CallEvent | None) -> frozenset[str]:
    """The last ten digits of the call's client and line numbers."""
    if event is None:
        return frozenset()
    numbers = (event.client_number, event.line_number)
    digits = (re.sub(r"\D", "", number) for number in numbers if number)
    return frozenset(d[-_OWN_DIGITS:] for d in digits if len(d) >= 7)


def _rank(kind: str) -> int:
    return BUILTIN_KINDS.index(kind) if kind in BUILTIN_KINDS else len(BUILTIN_KINDS)
