"""Keep phone numbers and forged lines out of the log (reliability.md R-SEC-3, §7/§8).

Callers' numbers are personal data (152-FZ), and webhook fields are attacker-controlled
text.  :func:`mask_phone` hides every digit of a phone number but the last four (enough to
match a call with the PBX's own log), keeping the punctuation so the format stays
recognisable: ``+7 (999) 123-45-67`` → ``+* (***) ***-45-67``.  :func:`escape_control`
makes one log record one line.  :class:`LogSanitizer` applies both to every record; attach
it to the *handlers* (a filter on a logger does not see records propagated from its
children).

What counts as a phone number — digits separated by at most three of space, tab, no-break
space, hyphens/dashes and brackets, not touching another digit:

- ``+`` and 10–15 digits (any E.164 number, ``+7 999 123-45-67``, ``+380 44 …``);
- 11 digits starting with 7 or 8 (``8 (8452) 12-34-56``, ``89991234567``, ``7-999-…``);
- 10 digits starting with 3, 4, 8 or 9 — a Russian area or mobile code without the
  trunk prefix (``(495) 123-45-67``, ``9991234567``).

Left alone: Unix timestamps and call ids (``1718000000.42`` starts with 1), durations,
dates and times, IP addresses (dots are not separators), numbers of other lengths.  A
10-digit id starting with 3/4/8/9 is masked too: hiding an id costs less than leaking a
number.
"""

from __future__ import annotations

import logging
import re
import traceback

_SEP = r"[ \t\u00a0\u2009\u202f()\-\u2010-\u2015]{0,3}"
PHONE = re.compile(
    rf"""
    \+{_SEP}7(?:{_SEP}\d){{10}}(?!\d)          # +7 and ten digits, exactly: a number that
                                               # follows with a space is another number
  | \+{_SEP}[1-9](?:{_SEP}\d){{9,14}}(?!\d)   # any other E.164 number
  | (?<![\d+])[78](?:{_SEP}\d){{10}}(?!\d)     # 8 / 7 trunk prefix and ten digits
  | (?<![\d+])[3489](?:{_SEP}\d){{9}}(?!\d)    # area or mobile code without the prefix
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_MAX_MESSAGE = 4096  # a record stays bounded whatever a client sent (R-SEC-3)


def _mask_match(match: re.Match[str]) -> str:
    number = match.group()
    digits = len(_DIGIT.findall(number))
    seen = 0

    def star(digit: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return digit.group() if seen > digits - 4 else "*"

    return _DIGIT.sub(star, number)


def mask_phone(text: str) -> str:
    """Replace every digit of each phone number in ``text`` but the last four with ``*``."""
    return PHONE.sub(_mask_match, text)


def _escape(char: re.Match[str]) -> str:
    c = char.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str, *, keep_newlines: bool = False) -> str:
    r"""Escape CR, LF, TAB, ESC and every other control character (``\r``, ``\x1b``), so a
    forged "line" stays inside its record.  ``keep_newlines`` is for tracebacks, whose
    lines are the record's own."""
    if keep_newlines:
        return "\n".join(_CONTROL.sub(_escape, line) for line in text.split("\n"))
    return _CONTROL.sub(_escape, text)


def sanitize(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Mask phone numbers, escape control characters and cut ``text`` to ``limit``."""
    clean = escape_control(mask_phone(text))
    if len(clean) > limit:
        clean = f"{clean[:limit]}… [{len(clean) - limit} more characters]"
    return clean


_OWN_LINES = ("Traceback ", "  File ", "  [Previous", "\nThe above", "\nDuring handling")


def format_exception(exc: BaseException) -> str:
    """A traceback with its line breaks, except inside exception messages: a message
    quoting a webhook field cannot start a line of its own.  Phone numbers are masked."""
    chunks = []
    for chunk in traceback.TracebackException.from_exception(exc).format():
        if chunk.startswith(_OWN_LINES):  # frames and headings: written by Python
            chunks.append(escape_control(mask_phone(chunk), keep_newlines=True))
        else:  # "Type: message" (and notes): anyone's text
            chunks.append(escape_control(mask_phone(chunk.removesuffix("\n"))) + "\n")
    return "".join(chunks).rstrip("\n")


class LogSanitizer(logging.Filter):
    """A handler filter: records at ``min_level`` and above leave with phone numbers
    masked, control characters escaped and the message cut to ``max_length``.

    The message is rendered (``msg % args``) before masking, so numbers inside any
    argument's ``str()`` are caught too; the record then carries the rendered text and no
    args.  Tracebacks are masked and keep their line breaks, but not the ones inside
    exception messages (:func:`format_exception`).
    """

    def __init__(self, min_level: int = logging.INFO, max_length: int = _MAX_MESSAGE) -> None:
        super().__init__()
        self.min_level = min_level
        self.max_length = max_length

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not crash the code that logs
            message = f"{record.msg!s} {record.args!r}"
        record.msg = sanitize(message, self.max_length)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatter.format writes exc_text when it is set instead of formatting anew;
            # set it even if another handler already cached the raw traceback there.
            record.exc_text = format_exception(record.exc_info[1])
        elif record.exc_text:
            record.exc_text = escape_control(mask_phone(record.exc_text), keep_newlines=True)
        if record.stack_info:
            record.stack_info = escape_control(mask_phone(record.stack_info), keep_newlines=True)
        return True
