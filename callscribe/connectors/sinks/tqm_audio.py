"""The audio T-Bank TQM imports: stereo, the operator on the LEFT channel, MP3 at a
constant bitrate (or PCM WAV), within TQM's limits (≤ 32 MB MP3, ≤ 100 MB WAV, ≤ 1 h).

The recording is decoded by the same guarded decoder as for transcription
(``transcription/audio.py``: size, magic bytes, header and frame budget checked before a
sample is decoded) with the channel map the daemon used, so each track already carries
its speaker; the operator's track is then written left whatever side the PBX put it on.
Decoding and encoding take seconds for a long call: callers run this in a thread.

MP3 is written by libsndfile (soundfile ≥ 0.12 with libsndfile ≥ 1.1, as the PyPI wheels
ship); where the installed libsndfile cannot write MP3, ``mp3_available`` says so and the
sink falls back to WAV.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from callscribe.domain import Speaker
from callscribe.errors import AudioError, SinkError
from callscribe.transcription.audio import SAMPLE_RATE, AudioLimits, Track, decode_file

MAX_SECONDS = 3600.0  # "максимальная длительность записи — не больше одного часа"
MAX_MP3_BYTES = 32_000_000  # "не больше 32 Мб": read as decimal megabytes, the stricter
MAX_WAV_BYTES = 100_000_000
MAX_SOURCE_BYTES = 1 << 30
# At 16 kHz libsndfile writes MPEG-2 Layer III, whose bitrates run 8 to 160 kbit/s; its
# compression level maps linearly onto that range (1.0 = 8, 0.0 = 160).
MP3_KBPS = (64, 80, 96, 112, 128, 144, 160)
_MPEG2_MIN_KBPS, _MPEG2_MAX_KBPS = 8, 160
_BLOCK = SAMPLE_RATE * 10

AudioFormat = Literal["mp3", "wav"]
MonoPolicy = Literal["dead_letter", "both_channels"]


@dataclass(frozen=True, slots=True)
class TqmAudio:
    data: bytes
    content_type: str
    extension: str
    seconds: float


def mp3_available() -> bool:
    """Whether this libsndfile writes MP3 (1.1 and newer)."""
    return "MPEG_LAYER_III" in soundfile.available_subtypes("MP3")


def tqm_audio(
    path: Path,
    channels: tuple[Speaker, Speaker],
    *,
    audio_format: AudioFormat = "mp3",
    kbps: int = 64,
    mono: MonoPolicy = "dead_letter",
) -> TqmAudio:
    """Stereo audio with the operator on the left; SinkError (not retryable) saying why
    the recording cannot go to TQM."""
    try:
        audio = decode_file(
            path,
            channels=channels,
            limits=AudioLimits(max_duration_seconds=MAX_SECONDS, max_file_bytes=MAX_SOURCE_BYTES),
        )
    except AudioError as exc:
        raise SinkError(
            f"the recording cannot be prepared for TQM: {exc}", retryable=False
        ) from None
    left, right = _operator_left(audio.tracks, mono)
    if audio_format == "mp3":
        data = _encode(left, right, format="MP3", subtype="MPEG_LAYER_III",
                       compression_level=_level(kbps), bitrate_mode="CONSTANT")  # fmt: skip
        limit, content_type = MAX_MP3_BYTES, "audio/mpeg"
    else:
        data = _encode(left, right, format="WAV", subtype="PCM_16")
        limit, content_type = MAX_WAV_BYTES, "audio/wav"
    if len(data) > limit:
        raise SinkError(
            f"the {audio_format.upper()} for TQM is {len(data) / 1e6:.1f} MB, over TQM's "
            f"{limit / 1e6:.0f} MB limit (a lower mp3_kbps makes it smaller)",
            retryable=False,
        )
    return TqmAudio(data, content_type, audio_format, audio.duration)


def _operator_left(tracks: tuple[Track, ...], mono: MonoPolicy) -> tuple[np.ndarray, np.ndarray]:
    by_speaker = {track.speaker: track.samples for track in tracks}
    if Speaker.OPERATOR in by_speaker and Speaker.CLIENT in by_speaker:
        return by_speaker[Speaker.OPERATOR], by_speaker[Speaker.CLIENT]
    if mono == "both_channels":
        return tracks[0].samples, tracks[0].samples
    raise SinkError(
        "the recording is mono (or both channels carry the same audio): TQM needs the "
        "operator and the client on separate channels; mono_recordings = 'both_channels' "
        "sends it with the same sound on both",
        retryable=False,
    )


def _level(kbps: int) -> float:
    return (_MPEG2_MAX_KBPS - kbps) / (_MPEG2_MAX_KBPS - _MPEG2_MIN_KBPS)


def _encode(left: np.ndarray, right: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    # Written in blocks: the whole call as one interleaved array would double the memory.
    with soundfile.SoundFile(buffer, "w", SAMPLE_RATE, 2, **options) as out:
        for start in range(0, len(left), _BLOCK):
            out.write(
                np.stack((left[start : start + _BLOCK], right[start : start + _BLOCK]), axis=1)
            )
    return buffer.getvalue()
