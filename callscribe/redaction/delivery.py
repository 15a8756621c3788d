"""What one sink may receive of a call: the step the delivery path runs before a sink
renders anything, so no sink can forget it.

The transcript is redacted by the sink's policy.  When the policy silences audio and
something was hidden, the sink gets a silenced copy of the recording and no link to the
original (the source's URL would play the card number); with the recording gone
(retention), it gets neither.  Nothing changes for a sink whose policy is off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from callscribe.config.redaction import RedactionPolicy
from callscribe.connectors.base import DeliveryContext
from callscribe.domain import CallEvent, Transcript
from callscribe.redaction.redact import redact

Silence = Callable[[Path, Sequence[tuple[float, float]], Path], Awaitable[Path]]
"""Writes a copy of a recording with the given spans silenced (``audio.silence_spans``);
the daemon runs it in a decoder process, since the recording is untrusted audio."""


async def for_sink(
    sink: str,
    transcript: Transcript | None,
    context: DeliveryContext,
    *,
    policy: RedactionPolicy,
    event: CallEvent,
    silence: Silence,
) -> tuple[Transcript | None, DeliveryContext]:
    """The transcript and delivery context ``sink`` may see.  Raises ``AudioError`` (or
    what ``silence`` raises) when the recording cannot be silenced; the delivery must then
    fail rather than send the original."""
    if transcript is None or not policy.enabled:
        return transcript, context
    redacted = redact(transcript, policy, event)
    if not policy.audio or not redacted.redactions:
        return redacted, context
    silenced = None
    if context.recording is not None:
        # "recording-": retention deletes it with the call's recording.
        name = f"recording-redacted-{sink}{context.recording.suffix}"
        spans = [(r.start, r.end) for r in redacted.redactions]
        silenced = await silence(context.recording, spans, context.recording.with_name(name))
    return redacted, dataclasses.replace(context, recording=silenced, recording_url=None)
