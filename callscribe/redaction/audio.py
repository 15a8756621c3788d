"""A copy of a recording with the redacted time spans silenced, for sinks that send the
audio or link to it, so a card number cannot be heard either.

Every channel is silenced over each span: the operator repeating the digits back is
as much a leak as the client reading them.  The copy keeps the original's format and
codec (PCM, µ-law and A-law WAV come out sample-exact outside the spans; GSM, MP3,
Vorbis and Opus are encoded again).  The recording is untrusted input, so it is opened
with the same checks as for transcription (``transcription/audio_header.py``) and read
in blocks; run this where the decoders run (a limited process) when the file has not
been decoded safely before.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import soundfile

from callscribe.errors import AudioError
from callscribe.transcription.audio import AudioLimits
from callscribe.transcription.audio_header import (
    HEAD_BYTES,
    check_declared,
    check_wav_header,
    human_size,
    libsndfile_message,
    sniff,
)

_BLOCK_FRAMES = 16_384
# Integer samples pass through PCM, µ-law and A-law unchanged; anything wider is float.
_INTEGER_SUBTYPES = frozenset({"PCM_U8", "PCM_S8", "PCM_16", "ULAW", "ALAW", "GSM610"})
_NO_LIMITS = AudioLimits()  # beyond those of transcription


def silence_spans(
    source: Path,
    spans: Sequence[tuple[float, float]],
    target: Path,
    *,
    limits: AudioLimits = _NO_LIMITS,
) -> Path:
    """Write ``source`` to ``target`` with every ``(start, end)`` span (seconds) silenced on
    all channels, in the same format; return ``target``.  Raises :class:`AudioError`
    naming the file."""
    name = str(source)
    try:
        with source.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > limits.max_file_bytes:
                raise AudioError(name, f"is {human_size(size)}, over the file size limit")
            sniffed = sniff(stream.read(HEAD_BYTES), name)
            stream.seek(0)
            if sniffed.wav is not None:
                check_wav_header(sniffed.wav, size, name, limits.max_duration_seconds)
            with soundfile.SoundFile(stream) as sound:
                check_declared(sound, sniffed, name, limits.max_duration_seconds)
                return _copy_silenced(sound, spans, target, name)
    except OSError as exc:  # opening it, or the disk filling up under the copy
        raise AudioError(name, f"cannot be silenced: {exc.strerror or exc}") from None
    except (RuntimeError, ValueError) as exc:  # libsndfile, opening or reading
        raise AudioError(name, f"cannot be silenced: {libsndfile_message(exc)}") from None


def _copy_silenced(
    sound: soundfile.SoundFile, spans: Sequence[tuple[float, float]], target: Path, name: str
) -> Path:
    rate = sound.samplerate
    frames = sorted(
        (max(0, math.floor(start * rate)), math.ceil(end * rate))
        for start, end in spans
        if end > start
    )
    dtype = "int16" if sound.subtype in _INTEGER_SUBTYPES else "float64"
    # Named like the fetcher's temporary files, so retention clears one a crash left behind.
    partial = target.with_name(f".callscribe-{target.name}.partial")
    try:
        out = soundfile.SoundFile(
            partial, "w", rate, sound.channels, format=sound.format, subtype=sound.subtype
        )
    except (OSError, RuntimeError) as exc:
        why = libsndfile_message(exc) if isinstance(exc, RuntimeError) else exc.strerror
        raise AudioError(name, f"cannot be silenced: writing {target} failed ({why})") from None
    position = 0
    try:
        with out:
            while len(block := sound.read(_BLOCK_FRAMES, dtype=dtype, always_2d=True)):
                for start, end in frames:
                    if start < position + len(block) and end > position:
                        block[max(0, start - position) : max(0, end - position)] = 0
                out.write(block)
                position += len(block)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
