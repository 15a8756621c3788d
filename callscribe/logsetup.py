"""Logging for the CLI and the service.

Under systemd (``JOURNAL_STREAM`` set) each line starts with a ``<N>`` syslog priority,
which journald turns into the entry's priority, and carries no timestamp (the journal has
one).  In a terminal, lines carry the time.  Either way phone numbers are masked and
control characters escaped at INFO and above (``logmask.LogSanitizer``), so a webhook
field cannot forge a log line.
"""

from __future__ import annotations

import logging
import os
import sys

from callscribe.logmask import LogSanitizer

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the
    handler was made (test runners and embedding programs replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        # Every line of a traceback gets the prefix, so journald keeps their priority.
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def configure_logging(verbosity: int = 0, *, default: int = logging.INFO) -> None:
    """Send log records to stderr; ``verbosity`` 1 and 2 lower the level by one step each."""
    level = max(logging.DEBUG, default - 10 * verbosity)
    handler = _StderrHandler()
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(LogSanitizer())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that are chatty at INFO about things admins need not see; httpx and
    # httpcore would also log every URL and, at debug, response headers: signed and
    # single-use recording links (Mango's Location) must never reach the journal.
    for name in ("faster_whisper", "httpx", "httpcore", "apscheduler", "uvicorn"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
