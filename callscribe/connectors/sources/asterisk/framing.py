"""AMI's wire format: ``Key: Value`` lines ending in CRLF, a blank line ending a message.

The stream comes from a PBX, or from whoever sits between it and us, so it is read as
untrusted (R-AMI-5): a message is capped at :data:`MAX_MESSAGE_BYTES` (a bigger one means
the stream is not AMI, and the link is dropped), bytes that are not UTF-8 are replaced
rather than raising, lines without a ``: `` are skipped, and nothing is ever allocated from
a length the peer declared (AMI declares none).  The banner that opens a session
(``Asterisk Call Manager/11.0.0``) is a single line of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_MESSAGE_BYTES = 64 * 1024
BANNER = b"Asterisk Call Manager/"
_END = b"\r\n\r\n"

Headers = dict[str, str | list[str]]


class FrameTooLarge(Exception):  # noqa: N818 - reads as what happened
    """A message grew past the cap without ending; ``complete``: the messages before it."""

    def __init__(self, reason: str, complete: list[Headers] | None = None) -> None:
        super().__init__(reason)
        self.complete = complete or []


class FrameReader:
    """Cuts a byte stream into AMI messages; holds at most one unfinished message."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._max = max_message_bytes
        self._buffer = bytearray()
        self._searched = 0  # the buffer's first bytes hold no message end: not searched again
        self._banner_pending = True
        self.banner: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Headers]:
        """The messages ``data`` completes, in order.  Raises :class:`FrameTooLarge`."""
        self._buffer += data
        if self._banner_pending and not self._take_banner():
            return []
        messages: list[Headers] = []
        start = 0
        while (end := self._buffer.find(_END, max(start, self._searched))) >= 0:
            if end - start > self._max:
                raise FrameTooLarge(f"an AMI message of over {self._max} bytes", messages)
            headers = parse_message(bytes(self._buffer[start:end]))
            if headers:
                messages.append(headers)
            start = end + len(_END)
        del self._buffer[:start]
        # Fed a byte at a time, a long message would otherwise be searched again and again.
        self._searched = max(0, len(self._buffer) - len(_END) + 1)
        if len(self._buffer) > self._max:
            raise FrameTooLarge(f"an AMI message of over {self._max} bytes", messages)
        return messages

    def _take_banner(self) -> bool:
        """Consume the banner line if the stream starts with one; False: need more bytes."""
        prefix = bytes(self._buffer[: len(BANNER)])
        if not BANNER.startswith(prefix):
            self._banner_pending = False  # not Asterisk's banner: treat it all as messages
            return True
        if len(prefix) < len(BANNER):
            return False
        line_end = self._buffer.find(b"\r\n")
        if line_end < 0:
            if len(self._buffer) > self._max:
                raise FrameTooLarge("an AMI banner line without an end")
            return False
        self.banner = self._buffer[:line_end].decode("utf-8", "replace")
        del self._buffer[: line_end + 2]
        self._banner_pending = False
        return True


def parse_message(raw: bytes) -> Headers:
    """``Key: Value`` lines into a dict; a key given twice keeps every value, in a list
    (AMI repeats ``ChanVariable`` and ``Output``)."""
    headers: Headers = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, separator, value = line.partition(": ")
        if not separator:
            key, separator, value = line.partition(":")  # "Value:" with nothing after it
            if not separator or value:
                continue
        key = key.strip()
        if not key:
            continue
        known = headers.get(key)
        if known is None:
            headers[key] = value
        elif isinstance(known, list):
            known.append(value)
        else:
            headers[key] = [known, value]
    return headers


def encode_message(headers: Mapping[str, str | list[str]]) -> bytes:
    """One message on the wire (for actions and for test servers)."""
    lines = []
    for key, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
