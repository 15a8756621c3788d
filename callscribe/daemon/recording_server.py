"""``GET /recordings/<call id>/<file>?expires=…&sig=…``: a call's recording, to whoever
holds a genuine, unexpired link to it (``links.py``).

Every refusal — a forged or expired link, a call without a kept recording, a file name
that is not the call's, a recording retention has deleted — is the same ``404 not found``
so that a prober learns nothing; the log says which it was (never the signature or the
query).  Nothing is ever listed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from callscribe.daemon.byte_ranges import file_response
from callscribe.daemon.links import RecordingLinks, file_name
from callscribe.domain import Recording
from callscribe.errors import AudioError
from callscribe.logmask import sanitize
from callscribe.transcription.audio_header import HEAD_BYTES, Container, sniff

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    Container.WAV: "audio/wav",
    Container.MP3: "audio/mpeg",
    Container.OGG: "audio/ogg",
    Container.FLAC: "audio/flac",
}
_HEADERS = {
    # The link itself is the credential: no shared cache keeps the file, and a page the
    # player is embedded in does not pass the link on as a referrer.
    "Cache-Control": "private, max-age=3600",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

Locate = Callable[[int], Awaitable[Path | None]]
"""The call's recording file while callscribe keeps it, else None."""


def kept_file(recording: Recording | None, recordings_dir: Path) -> Path | None:
    """Where ``recording`` is, if that is inside callscribe's recordings folder (a path
    elsewhere is not callscribe's to hand out); it may since have been deleted."""
    if recording is None:
        return None
    path = Path(recording.path)
    if not path.parent.resolve().is_relative_to(recordings_dir.resolve()):
        return None
    return path


@dataclass(frozen=True, slots=True)
class RecordingEndpoint:
    links: RecordingLinks
    locate: Locate

    async def handle(self, request: Request) -> Response:
        asked = request.path_params["call_id"]
        client = request.client.host if request.client else None
        query = request.query_params
        call_id = self.links.check(asked, query.get("expires", ""), query.get("sig", ""))
        if call_id is None:
            return _refused(asked, client, "the link is forged, altered or expired")
        path = await self.locate(call_id)
        if path is None or request.path_params["file"] != file_name(call_id, path.suffix):
            return _refused(asked, client, "no such recording for this call")
        try:
            fd, size, media_type = await asyncio.to_thread(_open, path)
        except OSError:
            return _refused(asked, client, "the recording was deleted by retention")
        log.debug("recording link: call %d sent to %s (%s)", call_id, client, media_type)
        return file_response(
            fd,
            size,
            request.headers.get("range"),
            media_type=media_type,
            headers={
                **_HEADERS,
                "Content-Disposition": f'inline; filename="{file_name(call_id, path.suffix)}"',
            },
            head_only=request.method == "HEAD",
        )


def _open(path: Path) -> tuple[int, int, str]:
    """The open file, its size and its media type, read from its first bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(path)
        try:
            media_type = MEDIA_TYPES[sniff(os.pread(fd, HEAD_BYTES, 0), path.name).container]
        except AudioError:
            media_type = "application/octet-stream"
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size, media_type


def _refused(asked: str, client: str | None, reason: str) -> Response:
    log.info(
        "recording link for call %s refused (%s) client=%s", sanitize(asked, 24), reason, client
    )
    return PlainTextResponse("not found\n", status_code=404)
