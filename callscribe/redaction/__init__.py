"""Hide personal data (card numbers, CVC, passports, SNILS, INN, phone numbers, e-mail
addresses, the admin's own patterns) from transcripts, and silence it in recordings,
before they leave the machine.

``redact(transcript, policy, event)`` hides what ``policy`` (from
``settings.redaction.settings_for(sink_name)``) says; ``silence_spans`` writes a copy of
a recording with the redacted spans silenced; ``delivery.for_sink`` does both for one
sink's delivery (docs/redaction.md).

Modules: tokens (a speaker's words with their places), numbers (spoken and written
numbers as runs of digits, + misheard), cues (what was said before a number),
checksums, detectors (which digits are what), text_kinds (e-mail, patterns), spans
(pieces, markers, time spans), redact (the whole), audio (silencing), delivery (one
sink's view of a call), measure (precision/recall).
"""

from callscribe.redaction.audio import silence_spans
from callscribe.redaction.redact import find, redact

__all__ = ["find", "redact", "silence_spans"]
