from __future__ import annotations

import numpy as np
import pytest

from callscribe.domain import Speaker
from callscribe.transcription.audio import SAMPLE_RATE, CallAudio, Track
from callscribe.transcription.windows import PIECE_GAP_SAMPLES, Piece, Window, pack_track

SECOND = SAMPLE_RATE


def test_stretches_are_packed_in_order_up_to_the_window_length() -> None:
    regions = [(0, 4 * SECOND), (6 * SECOND, 10 * SECOND), (12 * SECOND, 20 * SECOND)]
    windows = pack_track(0, 1, regions, 10 * SECOND)
    assert [[(p.start, p.end) for p in w.pieces] for w in windows] == [
        [(0, 4 * SECOND), (6 * SECOND, 10 * SECOND)],
        [(12 * SECOND, 20 * SECOND)],
    ]
    assert windows[0].pieces[1].offset == 4 * SECOND + PIECE_GAP_SAMPLES
    assert all(w.length <= 10 * SECOND for w in windows)


def test_a_stretch_longer_than_a_window_is_cut() -> None:
    (window,) = pack_track(0, 0, [(0, 40 * SECOND)], 20 * SECOND)
    assert window.length == 20 * SECOND


def test_no_speech_means_no_windows() -> None:
    assert pack_track(0, 0, [], 20 * SECOND) == []


def test_window_audio_lays_pieces_out_with_silence_between() -> None:
    samples = np.arange(10 * SECOND, dtype=np.float32)
    call = CallAudio("x.wav", 10.0, (Track(Speaker.OPERATOR, samples),), 8000, "WAV/PCM_16")
    window = Window((Piece(0, 0, 100, 200, 0), Piece(0, 0, 500, 600, 100 + PIECE_GAP_SAMPLES)))
    audio = window.audio([call])
    assert np.array_equal(audio[:100], samples[100:200])
    assert not audio[100 : 100 + PIECE_GAP_SAMPLES].any()
    assert np.array_equal(audio[100 + PIECE_GAP_SAMPLES :], samples[500:600])


def test_words_map_back_to_their_piece_and_call_time() -> None:
    second = Piece(0, 1, 30 * SECOND, 34 * SECOND, 5 * SECOND)
    window = Window((Piece(0, 1, 2 * SECOND, 6 * SECOND, 0), second))
    piece, start, end = window.locate(5.5, 6.0)
    assert piece == second
    assert (start, end) == pytest.approx((30.5, 31.0))


def test_a_word_in_the_gap_is_clipped_into_its_piece() -> None:
    window = Window(
        (Piece(0, 0, 0, 4 * SECOND, 0), Piece(0, 0, 9 * SECOND, 12 * SECOND, 5 * SECOND))
    )
    piece, start, end = window.locate(3.9, 4.3)
    assert piece.start == 0
    assert start == pytest.approx(3.9)
    assert end == pytest.approx(4.0)


def test_a_first_word_pulled_back_over_the_pause_stays_in_its_piece() -> None:
    # Seen on a generated call: "или" aligned from 7.14 s to 8.66 s while its stretch
    # of speech starts at 8.09 s in the window; by its midpoint it joined the stretch
    # before, and the dialogue put it before the other speaker's reply.
    earlier = Piece(0, 0, 49 * SECOND, 56 * SECOND + SECOND * 79 // 100, 0)
    later = Piece(0, 0, 62 * SECOND, 64 * SECOND, 8 * SECOND + SECOND * 9 // 100)
    piece, start, end = Window((earlier, later)).locate(7.14, 8.66)
    assert piece == later
    assert (start, end) == pytest.approx((62.0, 62.57))


def test_a_word_ending_where_the_next_piece_begins_stays_in_its_own() -> None:
    second = Piece(0, 0, 30 * SECOND, 34 * SECOND, 5 * SECOND)
    piece, _, _ = Window((Piece(0, 0, 0, 4 * SECOND, 0), second)).locate(3.5, 5.0)
    assert piece.start == 0
