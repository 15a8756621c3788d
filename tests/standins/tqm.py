"""T-Bank TQM's import API as its documentation describes it (integrations.md §7):
``POST /integration/import/call`` (JSON with a file link) and ``…/with-file`` (multipart:
``file`` + ``value`` JSON), ``Authorization: Basic <key as-is>``; ``Id`` ≤ 32 characters,
``CallDirection`` inbound/outbound, ``StartDate``/``EndDate`` as 2023-09-25T11:00:00 (no
zone, not in the future, end ≥ start); stereo MP3 (≥ 32 kbit/s, ≤ 32 MB) or PCM WAV
(≤ 100 MB), ≤ 1 h.  Anything else is refused with 400, like the real one; ``answers``
makes it fail first (500 with ``x-correlation-id``, 429 with ``Retry-After``).
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import soundfile

from callscribe.testing import _Server

PATH = "/integration/import/call"
MOSCOW = ZoneInfo("Europe/Moscow")
# MPEG-2/2.5 Layer III bitrates by index (kbit/s); MPEG-1's for 32-48 kHz.
_MPEG2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_MPEG1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


@dataclass
class Import:
    value: dict[str, Any]
    form: str  # "file" or "link"
    audio: np.ndarray | None = None  # frames × 2, float
    rate: int = 0
    kbps: int | None = None  # MP3 only
    file_name: str = ""
    content_type: str = ""


class TqmServer(_Server):
    def __init__(self, key: str, answers: list[int] | None = None) -> None:
        self.key = key
        self.answers = list(answers or [])
        self.imports: list[Import] = []
        self.refusals: list[tuple[int, str]] = []
        self.correlation_ids: list[str] = []
        self.lock = threading.Lock()
        super().__init__(_Handler)

    def imported(self, call_id: str) -> list[Import]:
        with self.lock:
            return [i for i in self.imports if i.value.get("Id") == call_id]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: TqmServer = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("authorization") != f"Basic {server.key}":
            self._answer(401, "unauthorized")
            return
        with server.lock:
            status = server.answers.pop(0) if server.answers else 200
        if status != 200:
            self._answer(status, "internal error")
            return
        try:
            if self.path == PATH + "/with-file":
                result = _with_file(self.headers.get("content-type", ""), body)
            elif self.path == PATH:
                result = _link(self.headers.get("content-type", ""), body)
            else:
                self._answer(404, "not found")
                return
        except ValueError as exc:
            with server.lock:
                server.refusals.append((400, str(exc)))
            self._answer(400, str(exc))
            return
        with server.lock:
            server.imports.append(result)
        self._answer(200, "")

    def _answer(self, status: int, text: str) -> None:
        server: TqmServer = self.server.owner  # type: ignore[attr-defined]
        payload = json.dumps({"message": text}).encode()
        correlation = uuid.uuid4().hex
        with server.lock:
            server.correlation_ids.append(correlation)
        self.send_response(status)
        self.send_header("x-correlation-id", correlation)
        if status == 429:
            self.send_header("retry-after", "1")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


def _with_file(content_type: str, body: bytes) -> Import:
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"expected multipart/form-data, got {content_type!r}")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    if set(parts) != {"file", "value"}:
        raise ValueError(f"expected the parts file and value, got {sorted(map(str, parts))}")
    value = _value(parts["value"].get_payload(decode=True))
    file = parts["file"]
    data: bytes = file.get_payload(decode=True)
    audio, rate, kbps = _audio(data)
    return Import(
        value, "file", audio, rate, kbps, file.get_filename() or "", file.get_content_type()
    )


def _link(content_type: str, body: bytes) -> Import:
    if not content_type.startswith("application/json"):
        raise ValueError(f"expected application/json, got {content_type!r}")
    value = _value(body)
    links = [v for k, v in value.items() if k.lower() == "filelink"]
    if not links or not isinstance(links[0], str) or not 0 < len(links[0]) <= 2000:
        raise ValueError("the link form needs a file link of at most 2000 characters")
    return Import(value, "link")


def _value(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("value is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("value is not an object")
    call_id = value.get("Id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= 32:
        raise ValueError("Id: a string of at most 32 characters is required")
    if value.get("CallDirection") not in ("inbound", "outbound"):
        raise ValueError("CallDirection: inbound or outbound")
    now = datetime.now(MOSCOW).replace(tzinfo=None)
    dates = {}
    for name in ("StartDate", "EndDate"):
        text = value.get(name)
        try:
            dates[name] = datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ValueError(f"{name}: expected 2023-09-25T11:00:00 without a time zone") from None
        if dates[name] > now:
            raise ValueError(f"{name} is in the future")
    if dates["EndDate"] < dates["StartDate"]:
        raise ValueError("EndDate is before StartDate")
    return value


def _audio(data: bytes) -> tuple[np.ndarray, int, int | None]:
    kbps = None
    if data[:4] == b"RIFF":
        if len(data) > 100_000_000:
            raise ValueError("WAV over 100 MB")
        info = soundfile.info(io.BytesIO(data))
        if info.subtype not in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8"):
            raise ValueError(f"WAV must be PCM, not {info.subtype}")
    else:
        kbps = mp3_kbps(data)
        if kbps < 32:
            raise ValueError(f"MP3 at {kbps} kbit/s: at least 32 are needed")
        if len(data) > 32_000_000:
            raise ValueError("MP3 over 32 MB")
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    if audio.shape[1] != 2:
        raise ValueError(
            "the recording must be stereo: operator in one channel, client in the other"
        )
    if len(audio) / rate > 3600:
        raise ValueError("the recording is longer than an hour")
    return audio, rate, kbps


def mp3_kbps(data: bytes) -> int:
    """The bitrate in the first MP3 frame header (after an ID3v2 tag, if any)."""
    start = 0
    if data[:3] == b"ID3":
        size = data[6:10]
        start = 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])
    while start + 4 <= len(data):
        if data[start] == 0xFF and data[start + 1] & 0xE0 == 0xE0:
            break
        start += 1
    else:
        raise ValueError("neither WAV nor MP3")
    header = data[start : start + 4]
    version, layer, index = (header[1] >> 3) & 3, (header[1] >> 1) & 3, header[2] >> 4
    if layer != 1:
        raise ValueError("MP3 must be MPEG Layer III")
    return (_MPEG1_L3 if version == 3 else _MPEG2_L3)[index]


def envelope(samples: np.ndarray, rate: int, seconds: float = 0.05) -> np.ndarray:
    """Loudness every ``seconds``: comparable across sample rates and codecs."""
    step = int(rate * seconds)
    frames = len(samples) // step
    blocks = samples[: frames * step].reshape(frames, step).astype(np.float64)
    return np.sqrt((blocks**2).mean(axis=1))


def likeness(a: np.ndarray, a_rate: int, b: np.ndarray, b_rate: int) -> float:
    """Correlation of two channels' loudness over time: near 1 for the same speaker's
    channel, low or negative for the other side of a dialogue."""
    x, y = envelope(a, a_rate), envelope(b, b_rate)
    n = min(len(x), len(y))
    return float(np.corrcoef(x[:n], y[:n])[0, 1])
