"""Find the speech in each track and pack it into decoding windows.

Whisper's encoder costs grow faster than linearly with input length (attention over
1,500 frames dominates a padded 30 s window), and CTranslate2 accepts shorter inputs.
So instead of padding every chunk to 30 s, callscribe cuts each track into stretches of
speech with the Silero VAD, packs consecutive stretches of one track into windows of at
most ``window_seconds`` separated by a short silence, and encodes only that.  Each word
found in a window is mapped back to its track and its time in the call through the
window's pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from callscribe.transcription.audio import SAMPLE_RATE, CallAudio

# Silence put between two stretches of speech in one window, so Whisper hears a pause
# where the call had one instead of words glued together.  0.3-0.8 s were equal within
# 0.4 WER points on an hour of generated calls; 0.6 s was best on the shorter sets
# (docs/benchmarks.md).
PIECE_GAP_SAMPLES = int(0.6 * SAMPLE_RATE)
# A word "ends" this much before its aligned end when choosing its piece, so a word
# ending exactly where the next piece begins stays in its own.
END_MARGIN = 0.02


TrackSamples = tuple[int, int, np.ndarray]
MapFunction = Callable[
    [Callable[[TrackSamples], list[tuple[int, int]]], Iterable[TrackSamples]],
    Iterator[list[tuple[int, int]]],
]


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of one track's speech, and where it sits inside its window."""

    call: int
    track: int
    start: int  # first sample in the track
    end: int  # one past the last sample in the track
    offset: int  # first sample in the window

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Window:
    """Audio decoded in one go: pieces of one track laid end to end."""

    pieces: tuple[Piece, ...]

    @property
    def call(self) -> int:
        return self.pieces[0].call

    @property
    def length(self) -> int:
        last = self.pieces[-1]
        return last.offset + last.length

    def audio(self, calls: Sequence[CallAudio]) -> np.ndarray:
        out = np.zeros(self.length, dtype=np.float32)
        for piece in self.pieces:
            samples = calls[piece.call].tracks[piece.track].samples
            out[piece.offset : piece.offset + piece.length] = samples[piece.start : piece.end]
        return out

    def locate(self, start: float, end: float) -> tuple[Piece, float, float]:
        """Map a span of seconds in the window to its piece and seconds in the track.

        The piece holding the word's end wins.  Cross-attention alignment pulls the
        first word after a pause back over the silence before it, often past the
        previous piece's end (its start, and so its midpoint, land in the wrong piece,
        which on generated calls moved one word in six turns to the other side of a
        reply), while a word's end is the next word's start and stays put.  The span
        is clipped to the piece so a word never lands in the silence between stretches.
        """
        point = (end - END_MARGIN) * SAMPLE_RATE
        piece = self.pieces[0]
        for candidate in self.pieces:
            if candidate.offset <= point:
                piece = candidate
        shift = piece.start - piece.offset
        first = min(max(start * SAMPLE_RATE, piece.offset), piece.offset + piece.length)
        last = min(max(end * SAMPLE_RATE, first), piece.offset + piece.length)
        return piece, (first + shift) / SAMPLE_RATE, (last + shift) / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class VadSettings:
    threshold: float
    min_silence_ms: int
    speech_pad_ms: int
    window_seconds: float


def speech_regions(samples: np.ndarray, vad: VadSettings) -> list[tuple[int, int]]:
    """Stretches of speech in one track as (start, end) sample indexes."""
    # A stretch must fit one window together with the padding the VAD adds around it.
    longest = vad.window_seconds - 2 * vad.speech_pad_ms / 1000 - 0.1
    options = VadOptions(
        threshold=vad.threshold,
        min_silence_duration_ms=vad.min_silence_ms,
        speech_pad_ms=vad.speech_pad_ms,
        max_speech_duration_s=longest,
    )
    found = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [(int(r["start"]), int(r["end"])) for r in found if r["end"] > r["start"]]


def pack_track(
    call: int, track: int, regions: Sequence[tuple[int, int]], window_samples: int
) -> list[Window]:
    """Lay consecutive stretches of one track end to end, a window at most this long."""
    windows: list[Window] = []
    pieces: list[Piece] = []
    cursor = 0
    for start, region_end in regions:
        end = min(region_end, start + window_samples)
        if pieces and cursor + end - start > window_samples:
            windows.append(Window(tuple(pieces)))
            pieces, cursor = [], 0
        pieces.append(Piece(call, track, start, end, cursor))
        cursor += end - start + PIECE_GAP_SAMPLES
    if pieces:
        windows.append(Window(tuple(pieces)))
    return windows


def plan_windows(
    calls: Sequence[CallAudio], vad: VadSettings, map_each: MapFunction = map
) -> list[Window]:
    """Every window of every track of every call, ready to be batched together.

    ``map_each`` may run the voice detector on several tracks at once (an executor's
    ``map``): it is single-threaded and stateless between calls, and takes about a tenth
    of the engine's time on two cores when run one track after another.
    """
    window_samples = int(vad.window_seconds * SAMPLE_RATE)
    tracks = [
        (call_index, track_index, track.samples)
        for call_index, call in enumerate(calls)
        for track_index, track in enumerate(call.tracks)
    ]
    found = map_each(lambda track: speech_regions(track[2], vad), tracks)
    windows: list[Window] = []
    for (call_index, track_index, _), regions in zip(tracks, found, strict=True):
        windows.extend(pack_track(call_index, track_index, regions, window_samples))
    return windows
