"""Turn a call recording into 16 kHz mono float32 tracks, one per speaker.

Recordings come from PBXs and vendor APIs, so they are untrusted input.  The checks run
cheapest and safest first, so a hostile file is refused before the expensive or risky step:

1. file size (stat or ``len``);
2. magic bytes and, for WAV, the ``fmt `` chunk, before libsndfile parses anything;
3. what the header declares (format, codec, channels, sample rate, duration), once libsndfile
   has opened the file but before a single sample is decoded (2 and 3: :mod:`.audio_header`);
4. decoding in blocks with a running frame budget, so nothing is ever allocated from a
   declared frame count.

Running this in a separate, resource-limited process (R-AUD-1) is the caller's job.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from callscribe.domain import Speaker
from callscribe.errors import AudioError, ConfigError
from callscribe.transcription.audio_header import (
    HEAD_BYTES,
    check_declared,
    check_wav_header,
    human_size,
    libsndfile_message,
    sniff,
    wav_cut_short,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000

#: T-Bank TQM convention, and what most PBXs do: left = operator, right = client.
DEFAULT_CHANNELS: tuple[Speaker, Speaker] = (Speaker.OPERATOR, Speaker.CLIENT)

# A recording cut short (recorder killed, disk full) still holds the call up to the cut, so
# what decodes is kept, with a warning.  Under a second there is no sentence to save, and
# the damage is the more useful thing to report.
_MIN_TRUNCATED_SECONDS = 1.0

# A mono call saved as stereo has the same signal on both sides; split, every word would be
# transcribed twice, once per speaker.  The test is the energy of L-R against that of L+R:
# lossless copies give exactly zero and lossy ones a small residue (Opus: -65 dB), while the
# two sides of a real call measure about 0 dB, and even a silent side carrying a loud echo
# (-6 dB) of the other stays above -10 dB.  -40 dB leaves a wide margin both ways.
_IDENTICAL_ENERGY_RATIO = 1e-4

# Small enough that a decoder failing mid-block (FLAC on a cut file) loses little, large
# enough that per-block overhead is noise: 2 s at 8 kHz.
_BLOCK_FRAMES = 16_384

# soxr "MQ" is flat to 3.6 kHz for 8 kHz sources (all of the 300-3400 Hz telephone band;
# "LQ" is already 8 dB down at 3.4 kHz) and its 16-bit precision matches the source; "HQ"
# and "VHQ" add precision no telephone recording has, at the same or higher cost.
_RESAMPLE_QUALITY = "MQ"

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """Recordings over these limits are refused before they are decoded."""

    max_duration_seconds: float = 4 * 3600
    max_file_bytes: int = 1 << 30


# eq=False: equality of numpy arrays is elementwise, so a generated __eq__ would raise.
@dataclass(frozen=True, slots=True, eq=False)
class Track:
    """One speaker's side of the call: mono float32 at :data:`SAMPLE_RATE`, in [-1, 1]."""

    speaker: Speaker
    samples: Float32Array


@dataclass(frozen=True, slots=True, eq=False)
class CallAudio:
    """A decoded recording: one track for mono calls, two (left, right) for stereo calls."""

    source: str
    duration: float
    tracks: tuple[Track, ...]
    original_sample_rate: int
    original_format: str  # libsndfile's format/subtype, e.g. "WAV/GSM610"


def parse_channel_map(text: str) -> tuple[Speaker, Speaker]:
    """Parse ``"operator,client"`` or ``"client,operator"`` (left channel first)."""
    names = tuple(part.strip().lower() for part in text.split(","))
    if names == ("operator", "client"):
        return (Speaker.OPERATOR, Speaker.CLIENT)
    if names == ("client", "operator"):
        return (Speaker.CLIENT, Speaker.OPERATOR)
    raise ConfigError(
        f"channel map {text!r} is not valid: write 'operator,client' or 'client,operator' "
        "(who is on the left channel first)"
    )


def declared_seconds(path: Path) -> float:
    """How long the file says it is, for progress estimates only; 0 when it cannot say
    (decoding it later gives the reason)."""
    try:
        seconds = float(soundfile.info(str(path)).duration)
    except Exception:
        return 0.0
    return seconds if 0.0 < seconds < float("inf") else 0.0


def decode_file(
    path: Path,
    *,
    channels: tuple[Speaker, Speaker] = DEFAULT_CHANNELS,
    limits: AudioLimits = AudioLimits(),
) -> CallAudio:
    """Decode the recording at *path* into tracks of :data:`SAMPLE_RATE` float32 samples.

    Stereo gives two tracks, left and right, with speakers from *channels*; mono gives one
    :attr:`Speaker.UNKNOWN` track, and so does stereo whose two channels carry the same audio.
    A recording cut short keeps what decodes, with a warning, if that is at least a second;
    NaN and infinite samples become silence, with a warning.  Anything unusable raises
    :class:`AudioError` naming the file and the reason.
    """
    source = str(path)
    try:
        kind = path.stat().st_mode
        if stat.S_ISDIR(kind):
            raise AudioError(source, "is a directory, not a recording")
        # Opening a FIFO would block until someone writes to it.
        if not stat.S_ISREG(kind):
            raise AudioError(source, "is not a regular file (a pipe, device or socket?)")
        with path.open("rb") as stream:
            # The size of what was opened, not of what the path pointed to a moment ago.
            size = os.fstat(stream.fileno()).st_size
            return _decode(stream, size, source, channels, limits)
    except FileNotFoundError:
        raise AudioError(source, "does not exist") from None
    except PermissionError:
        raise AudioError(
            source, "cannot be read: permission denied (the callscribe user needs read access)"
        ) from None
    except OSError as exc:
        raise AudioError(source, f"cannot be read: {exc.strerror or exc}") from None


def decode_bytes(
    data: bytes,
    name: str,
    *,
    channels: tuple[Speaker, Speaker] = DEFAULT_CHANNELS,
    limits: AudioLimits = AudioLimits(),
) -> CallAudio:
    """Decode a recording held in memory, as :func:`decode_file` does.

    *name* (a file name or URL) identifies the recording in errors and logs.
    """
    return _decode(io.BytesIO(data), len(data), name, channels, limits)


def _decode(
    stream: BinaryIO,
    size: int,
    source: str,
    channels: tuple[Speaker, Speaker],
    limits: AudioLimits,
) -> CallAudio:
    if size == 0:
        raise AudioError(source, "is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise AudioError(
            source,
            f"is {human_size(size)}, over the {human_size(limits.max_file_bytes)} limit "
            "(max_file_bytes)",
        )
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    sniffed = sniff(head, source)
    if sniffed.wav is not None:
        check_wav_header(sniffed.wav, size, source, limits.max_duration_seconds)
    try:
        sound = soundfile.SoundFile(stream)
    except (RuntimeError, ValueError) as exc:
        raise AudioError(
            source,
            f"is damaged or not really {sniffed.container} "
            f"(the decoder says: {libsndfile_message(exc)})",
        ) from None
    with sound:
        check_declared(sound, sniffed, source, limits.max_duration_seconds)
        decoded = _decode_blocks(sound, source, limits)
        truncated = decoded.error is not None or decoded.frames < sound.frames
        original_format = f"{sound.format}/{sound.subtype}"
        rate = sound.samplerate
    if sniffed.wav is not None:
        truncated = truncated or wav_cut_short(sniffed.wav, size)
    seconds = decoded.frames / rate
    _check_decoded(decoded, truncated, seconds, source)
    return CallAudio(
        source=source,
        duration=seconds,
        tracks=_tracks(decoded, channels, source),
        original_sample_rate=rate,
        original_format=original_format,
    )


def _check_decoded(decoded: _Decoded, truncated: bool, seconds: float, source: str) -> None:
    """Refuse what decoding showed to be unusable; warn about what was repaired."""
    why = decoded.error or "the file ends before its header says it should"
    if decoded.frames == 0:
        raise AudioError(source, f"contains no audio that could be decoded ({why})")
    if truncated and seconds < _MIN_TRUNCATED_SECONDS:
        raise AudioError(source, f"is truncated or damaged: only {seconds:.2f} s decode ({why})")
    if truncated:
        logger.warning(
            "%s: truncated or damaged (%s); using the %.1f s that decode", source, why, seconds
        )
    if decoded.non_finite == decoded.frames * len(decoded.tracks):
        raise AudioError(source, "contains no valid samples (all are NaN or infinite)")
    if decoded.non_finite:
        logger.warning(
            "%s: replaced %d NaN or infinite samples with silence", source, decoded.non_finite
        )


@dataclass(slots=True)
class _Decoded:
    tracks: list[Float32Array]  # one per channel, at SAMPLE_RATE
    frames: int = 0  # at the original rate
    error: str | None = None  # why decoding stopped early
    non_finite: int = 0
    difference_energy: float = 0.0  # of left - right, at the original rate
    sum_energy: float = 0.0  # of left + right


def _decode_blocks(sound: soundfile.SoundFile, source: str, limits: AudioLimits) -> _Decoded:
    """Decode block by block, cleaning and resampling as it goes.

    Resampling per block keeps only the 16 kHz output in memory, so a 48 kHz recording costs
    no more than a 16 kHz one.
    """
    rate, count = sound.samplerate, sound.channels
    max_frames = limits.max_duration_seconds * rate
    resamplers = [
        soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=_RESAMPLE_QUALITY)
        for _ in range(count)
    ]
    parts: list[list[Float32Array]] = [[] for _ in range(count)]
    result = _Decoded(tracks=[])
    while True:
        try:
            block = sound.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        except (RuntimeError, ValueError) as exc:
            result.error = libsndfile_message(exc)
            break
        if not len(block):
            break
        result.frames += len(block)
        # soundfile stops at the header's frame count, which was checked; this keeps the
        # limit true by construction rather than by that property of soundfile.read().
        if result.frames > max_frames:
            raise AudioError(
                source, "decodes to more audio than its header declared and the limit allows"
            )
        finite = np.isfinite(block)
        if not finite.all():
            result.non_finite += int(block.size - np.count_nonzero(finite))
            block[~finite] = 0.0
        np.clip(block, -1.0, 1.0, out=block)
        if count == 2:
            difference, total = block[:, 0] - block[:, 1], block[:, 0] + block[:, 1]
            result.difference_energy += float(np.dot(difference, difference))
            result.sum_energy += float(np.dot(total, total))
        for channel, resampler in enumerate(resamplers):
            column = np.ascontiguousarray(block[:, channel])
            parts[channel].append(resampler.resample_chunk(column))
    for channel, resampler in enumerate(resamplers):
        parts[channel].append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        track = np.concatenate(parts[channel])
        parts[channel].clear()  # let each channel's pieces go as soon as they are joined
        # The resampler's filter overshoots a little on full-scale peaks.
        result.tracks.append(np.clip(track, -1.0, 1.0, out=track))
    return result


def _tracks(decoded: _Decoded, channels: tuple[Speaker, Speaker], source: str) -> tuple[Track, ...]:
    if len(decoded.tracks) == 1:
        return (Track(Speaker.UNKNOWN, decoded.tracks[0]),)
    left, right = decoded.tracks
    if decoded.difference_energy <= _IDENTICAL_ENERGY_RATIO * decoded.sum_energy:
        logger.info("%s: both channels carry the same audio; treating it as mono", source)
        mono = np.add(left, right, out=left)
        mono *= 0.5
        return (Track(Speaker.UNKNOWN, mono),)
    return (Track(channels[0], left), Track(channels[1], right))
