"""Every error callscribe raises on purpose derives from :class:`CallscribeError`.

The tree::

    CallscribeError
    ├── ConfigError           a setting is missing or wrong (names the key and the file)
    ├── ModelError            the speech model cannot be found, assembled or verified
    ├── TranscriptionError    a recording cannot be turned into text
    │   └── AudioError        the file itself is unreadable, empty, too long or too big
    ├── SourceError           a PBX event cannot be accepted
    └── SinkError             a helpdesk did not take the transcript (``retryable`` says
                              whether trying again later can help)

An error's message is written for the PBX admin who reads it in the journal or the
terminal: what went wrong, where, and when it helps, what to do.  A class's docstring is
its default message.
"""

from __future__ import annotations


class CallscribeError(Exception):
    """callscribe failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(CallscribeError):
    """The configuration is not valid."""


class ModelError(CallscribeError):
    """The speech recognition model is not usable."""


class TranscriptionError(CallscribeError):
    """The recording could not be transcribed."""


class AudioError(TranscriptionError):
    """The recording could not be read."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class SourceError(CallscribeError):
    """A call event could not be accepted."""


class SinkError(CallscribeError):
    """The transcript could not be delivered."""

    def __init__(self, message: str | None = None, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)
