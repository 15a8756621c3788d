"""Serving one open file with HTTP range requests (RFC 9110 §14), as audio players use
them to seek: ``Range: bytes=0-1023``, ``bytes=1024-``, ``bytes=-500``.

The file is served from a descriptor opened before the answer starts, so a file deleted
meanwhile (retention) is still served whole to whoever already has it open.  One range
per request: a player never asks for more, and a list of ranges is answered with the
whole file, as the RFC allows.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Mapping

from starlette.responses import PlainTextResponse, Response, StreamingResponse

CHUNK = 64 * 1024
_SPEC = re.compile(r"^(?:(?P<first>[0-9]{1,18})-(?P<last>[0-9]{0,18})|-(?P<suffix>[0-9]{1,18}))$")


class UnsatisfiableRangeError(Exception):
    """A ``Range`` header that no part of the file answers, or that cannot be read."""


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions (inclusive) that ``header`` asks for in a file of
    ``size`` bytes; None for the whole file (no header, another unit, several ranges)."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None  # a unit we do not know is ignored (RFC 9110 §14.2)
    spec = spec.strip()
    if "," in spec:
        return None
    match = _SPEC.match(spec)
    if match is None:
        raise UnsatisfiableRangeError(f"not a byte range: {spec[:40]!r}")
    if match["suffix"] is not None:
        length = int(match["suffix"])
        if length == 0 or size == 0:
            raise UnsatisfiableRangeError("an empty suffix range")
        return max(0, size - length), size - 1
    first = int(match["first"])
    last = int(match["last"]) if match["last"] else size - 1
    if first > last or first >= size:
        raise UnsatisfiableRangeError(f"bytes {first}-{match['last']} of {size}")
    return first, min(last, size - 1)


def file_response(
    fd: int,
    size: int,
    range_header: str | None,
    *,
    media_type: str,
    headers: Mapping[str, str],
    head_only: bool = False,
) -> Response:
    """The answer for the open file ``fd`` of ``size`` bytes; the response owns ``fd``
    and closes it once sent (at once for HEAD and for a refused range)."""
    headers = {**headers, "Accept-Ranges": "bytes"}
    try:
        wanted = requested_range(range_header, size)
    except UnsatisfiableRangeError:
        os.close(fd)
        headers["Content-Range"] = f"bytes */{size}"
        return PlainTextResponse("range not satisfiable\n", status_code=416, headers=headers)
    first, last = wanted if wanted is not None else (0, size - 1)
    status = 200 if wanted is None else 206
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    if head_only:
        os.close(fd)
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = _chunks(fd, first, last - first + 1)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


async def _chunks(fd: int, offset: int, length: int) -> AsyncIterator[bytes]:
    try:
        while length > 0:
            chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, length), offset)
            if not chunk:
                return  # the file shrank under us: what was promised cannot be sent
            offset += len(chunk)
            length -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
