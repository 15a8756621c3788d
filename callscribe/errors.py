"""Every error callscribe raises on purpose derives from :class:`CallscribeError`.

The tree::

    CallscribeError
    ├── ConfigError           a setting is missing or wrong (names the key and the file)
    ├── ModelError            the speech model cannot be found, assembled or verified
    ├── TranscriptionError    a recording cannot be turned into text
    │   ├── AudioError        the file itself is unreadable, empty, too long or too big
    │   ├── DecoderCrashError      the decoder process died or hung on it (retried: the next
    │                         attempt gets a fresh process)
    │   └── RecognitionError  the model failed on decoded audio (retried)
    ├── SourceError           a PBX event cannot be accepted (``status``: the HTTP answer
    │                         a webhook gets: 400 malformed, 401 not authenticated)
    ├── FetchError            a recording cannot be downloaded or read (``retryable``:
    │                         not ready yet or a network hiccup, versus refused for good)
    ├── StoreError            the database is unusable (corrupt, wrong schema, disk full)
    └── SinkError             a helpdesk did not take the transcript (``retryable`` says
                              whether trying again later can help, ``retry_after`` when)

An error's message is written for the PBX admin who reads it in the journal or the
terminal: what went wrong first, in plain words, then where (:func:`located`: the file or
URL, shortened, so that ``callscribe calls`` shows the reason, not the start of a path),
and when it helps, what to do.  A class's docstring is its default message.
"""

from __future__ import annotations

from typing import Any

#: Characters of a file or URL kept in a message; longer ones keep their end (the file
#: name) and, for a URL, its host.
WHERE_CHARS = 60


def located(reason: str, where: str) -> str:
    """A failure's message: the reason, then the file or URL it is about, shortened.
    ``where`` must already be fit to show (a URL without its query: ``redact_url``)."""
    return f"{reason} — {shortened(where)}"


def shortened(where: str, limit: int = WHERE_CHARS) -> str:
    """A path or URL cut to about ``limit`` characters: a URL keeps its scheme and host,
    both keep their end, cut at a ``/`` where one is near."""
    if len(where) <= limit:
        return where
    scheme, sep, rest = where.partition("://")
    head = f"{scheme}{sep}{rest.partition('/')[0]}" if sep else ""
    tail = where[len(head) :][-max(limit - len(head), limit // 3) :]
    slash = tail.find("/")
    if 0 < slash < len(tail) - 1:
        tail = tail[slash:]
    return f"{head}…{tail}"


class CallscribeError(Exception):
    """callscribe failed."""

    #: Whether the same operation may succeed later (a server back up, a file complete).
    retryable: bool = False
    #: Seconds the other side asked us to wait before trying again, if it said.
    retry_after: float | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take arguments of their own (AudioError: source and reason), which
        # pickle's default, ``cls(*args)``, would not pass: an AudioError raised in a
        # decoder process then broke the daemon's decoder pool instead of naming the file.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(
    cls: type[CallscribeError], args: tuple[Any, ...], state: dict[str, Any]
) -> CallscribeError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(CallscribeError):
    """The configuration is not valid."""


class ModelError(CallscribeError):
    """The speech recognition model is not usable."""


class TranscriptionError(CallscribeError):
    """The recording could not be transcribed."""


class DecoderCrashError(TranscriptionError):
    """The decoder process died or hung on this recording."""

    retryable = True


class RecognitionError(TranscriptionError):
    """Speech recognition failed on decoded audio (the model ran out of memory, say)."""

    retryable = True


class AudioError(TranscriptionError):
    """The recording could not be read."""

    def __init__(self, source: str, reason: str) -> None:
        """``reason`` says what is wrong with the recording: "is empty (0 bytes)"."""
        self.source = source
        self.reason = reason
        super().__init__(located(f"recording {reason}", source))


class SourceError(CallscribeError):
    """A call event could not be accepted."""

    def __init__(self, message: str | None = None, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class _RetryableError(CallscribeError):
    """A failure that says whether trying again later can help, and when."""

    def __init__(
        self, message: str | None = None, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class FetchError(_RetryableError):
    """The recording could not be fetched."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        #: The HTTP status that refused the fetch, when a server answered: a source that
        #: fetches through its vendor's API tells "not ready" from "blocked" by it.
        self.status = status
        super().__init__(message, retryable=retryable, retry_after=retry_after)


class StoreError(CallscribeError):
    """The database cannot be used."""


class SinkError(_RetryableError):
    """The transcript could not be delivered."""
