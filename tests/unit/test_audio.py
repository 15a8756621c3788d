"""Decoding recordings: every format a PBX writes, and every way a recording can be bad.

All audio is generated here with soundfile, so the suite runs anywhere.  Stereo fixtures put
a 440 Hz tone on the left and a 1000 Hz tone on the right, so after resampling an FFT peak
says which channel ended up where.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from callscribe.domain import Speaker
from callscribe.errors import AudioError, ConfigError
from callscribe.transcription.audio import (
    DEFAULT_CHANNELS,
    SAMPLE_RATE,
    AudioLimits,
    CallAudio,
    decode_bytes,
    decode_file,
    parse_channel_map,
)
from tests.samples import EXAMPLES

LEFT_HZ, RIGHT_HZ = 440.0, 1000.0
SECONDS = 3.0
SHARED = Path("/work/shared")
EXAMPLE_CALL = EXAMPLES / "call-public-01.wav"

Signal = npt.NDArray[np.float32]


def tone(hz: float, rate: int, seconds: float = SECONDS, amplitude: float = 0.5) -> Signal:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def two_tones(rate: int, seconds: float = SECONDS) -> Signal:
    return np.stack([tone(LEFT_HZ, rate, seconds), tone(RIGHT_HZ, rate, seconds)], axis=1)


def encode(data: Signal, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def dominant_hz(samples: Signal) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


def assert_clean(audio: CallAudio, seconds: float = SECONDS) -> None:
    assert audio.duration == pytest.approx(seconds, abs=0.05)
    for track in audio.tracks:
        assert track.samples.dtype == np.float32
        assert track.samples.ndim == 1
        assert track.samples.flags.c_contiguous
        assert len(track.samples) == pytest.approx(audio.duration * SAMPLE_RATE, abs=2)
        assert np.isfinite(track.samples).all()
        assert np.abs(track.samples).max() <= 1.0


def decode_error(data: bytes, name: str = "call.wav", limits: AudioLimits | None = None) -> str:
    with pytest.raises(AudioError) as caught:
        decode_bytes(data, name, limits=limits or AudioLimits())
    assert caught.value.source == name
    assert str(caught.value) == f"recording {caught.value.reason} — {name}"  # the reason first
    return caught.value.reason


STEREO_FORMATS = [
    ("WAV", "PCM_16", 8000),
    ("WAV", "PCM_U8", 8000),
    ("WAV", "PCM_24", 44100),
    ("WAV", "PCM_32", 8000),
    ("WAV", "FLOAT", 8000),
    ("WAV", "DOUBLE", 8000),
    ("WAV", "ULAW", 8000),
    ("WAV", "ALAW", 8000),
    ("WAVEX", "PCM_24", 48000),
    ("MP3", "MPEG_LAYER_III", 8000),
    ("MP3", "MPEG_LAYER_III", 44100),
    ("OGG", "VORBIS", 8000),
    ("OGG", "VORBIS", 44100),
    ("OGG", "OPUS", 8000),
    ("OGG", "OPUS", 48000),
    ("FLAC", "PCM_16", 8000),
    ("FLAC", "PCM_24", 44100),
]


@pytest.mark.parametrize(("fmt", "subtype", "rate"), STEREO_FORMATS, ids=str)
def test_stereo_formats_split_left_operator_right_client(
    tmp_path: Path, fmt: str, subtype: str, rate: int
) -> None:
    path = write(tmp_path / "call.bin", encode(two_tones(rate), rate, fmt, subtype))

    audio = decode_file(path)

    assert [t.speaker for t in audio.tracks] == [Speaker.OPERATOR, Speaker.CLIENT]
    assert dominant_hz(audio.tracks[0].samples) == pytest.approx(LEFT_HZ, abs=3)
    assert dominant_hz(audio.tracks[1].samples) == pytest.approx(RIGHT_HZ, abs=3)
    assert audio.original_sample_rate == rate
    assert audio.original_format == f"{fmt}/{subtype}"
    assert audio.source == str(path)
    assert_clean(audio)


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate"),
    [*STEREO_FORMATS, ("WAV", "GSM610", 8000)],  # libsndfile writes GSM 6.10 as mono only
    ids=str,
)
def test_mono_formats_give_one_unknown_track(fmt: str, subtype: str, rate: int) -> None:
    audio = decode_bytes(encode(tone(LEFT_HZ, rate), rate, fmt, subtype), "call")

    assert [t.speaker for t in audio.tracks] == [Speaker.UNKNOWN]
    assert dominant_hz(audio.tracks[0].samples) == pytest.approx(LEFT_HZ, abs=3)
    assert audio.original_format == f"{fmt}/{subtype}"
    assert_clean(audio)


def test_lossless_levels_survive_resampling() -> None:
    audio = decode_bytes(encode(two_tones(8000), 8000, "WAV", "PCM_16"), "call.wav")
    middle = audio.tracks[0].samples[SAMPLE_RATE // 2 : -SAMPLE_RATE // 2]
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.01)


def test_16khz_input_is_passed_through_unchanged() -> None:
    mono = tone(LEFT_HZ, SAMPLE_RATE)
    audio = decode_bytes(encode(mono, SAMPLE_RATE, "WAV", "FLOAT"), "call.wav")
    np.testing.assert_array_equal(audio.tracks[0].samples, mono)


def test_channel_map_swap_swaps_speakers() -> None:
    data = encode(two_tones(8000), 8000, "WAV", "PCM_16")

    audio = decode_bytes(data, "call.wav", channels=(Speaker.CLIENT, Speaker.OPERATOR))

    assert [t.speaker for t in audio.tracks] == [Speaker.CLIENT, Speaker.OPERATOR]
    assert dominant_hz(audio.tracks[0].samples) == pytest.approx(LEFT_HZ, abs=3)


def test_decode_bytes_matches_decode_file(tmp_path: Path) -> None:
    data = encode(two_tones(8000), 8000, "FLAC")
    from_file = decode_file(write(tmp_path / "call.flac", data))
    from_bytes = decode_bytes(data, "call.flac")
    for a, b in zip(from_file.tracks, from_bytes.tracks, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("WAV", "ULAW"), ("MP3", None), ("OGG", "OPUS")]
)
def test_identical_channels_are_one_unknown_speaker(fmt: str, subtype: str | None) -> None:
    mono = tone(LEFT_HZ, 8000)
    data = encode(np.stack([mono, mono], axis=1), 8000, fmt, subtype)

    audio = decode_bytes(data, "mono-as-stereo")

    assert [t.speaker for t in audio.tracks] == [Speaker.UNKNOWN]
    assert dominant_hz(audio.tracks[0].samples) == pytest.approx(LEFT_HZ, abs=3)
    assert_clean(audio)


@pytest.mark.parametrize(
    "right",
    [
        np.zeros(8000 * 3, np.float32),  # the client never spoke
        0.3 * tone(LEFT_HZ, 8000) + tone(RIGHT_HZ, 8000, amplitude=0.05),  # echo + quiet reply
    ],
    ids=["silent-side", "echo"],
)
def test_channels_that_differ_stay_two_speakers(right: Signal) -> None:
    data = encode(np.stack([tone(LEFT_HZ, 8000), right], axis=1), 8000, "WAV", "PCM_16")
    audio = decode_bytes(data, "call.wav")
    assert [t.speaker for t in audio.tracks] == list(DEFAULT_CHANNELS)


def test_nan_and_inf_samples_become_silence(caplog: pytest.LogCaptureFixture) -> None:
    stereo = two_tones(8000)
    stereo[100:110, 0] = np.nan
    stereo[200, 1] = np.inf
    stereo[300, 1] = -np.inf

    with caplog.at_level(logging.WARNING):
        audio = decode_bytes(encode(stereo, 8000, "WAV", "FLOAT"), "float.wav")

    assert_clean(audio)
    assert "float.wav" in caplog.text
    assert "replaced 12 NaN or infinite samples" in caplog.text


def test_all_nan_is_refused() -> None:
    data = encode(np.full((8000, 1), np.nan, np.float32), 8000, "WAV", "FLOAT")
    assert "no valid samples" in decode_error(data)


def test_float_samples_beyond_full_scale_are_clipped() -> None:
    audio = decode_bytes(encode(4 * tone(LEFT_HZ, 8000), 8000, "WAV", "FLOAT"), "loud.wav")
    assert np.abs(audio.tracks[0].samples).max() == pytest.approx(1.0)


# --- bad files ------------------------------------------------------------------------------


def test_missing_file() -> None:
    reason = r"^recording does not exist — /nonexistent/nowhere\.wav$"
    with pytest.raises(AudioError, match=reason):
        decode_file(Path("/nonexistent/nowhere.wav"))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="is a directory"):
        decode_file(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "call.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioError, match="not a regular file"):
        decode_file(fifo)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.wav", encode(tone(LEFT_HZ, 8000), 8000, "WAV"))
    path.chmod(0)
    reason = r"^recording cannot be read: permission denied .* — .*secret\.wav$"
    with pytest.raises(AudioError, match=reason):
        decode_file(path)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"^recording is empty \(0 bytes\) — .*empty\.wav$"):
        decode_file(write(tmp_path / "empty.wav", b""))


def test_header_only_wav_is_a_missed_call() -> None:
    header_only = encode(np.zeros((0, 1), np.float32), 8000, "WAV", "PCM_16")
    assert len(header_only) == 44  # what Asterisk leaves behind for a call nobody answered
    assert decode_error(header_only) == "contains no audio (header only)"


def test_wav_whose_header_was_never_finished() -> None:
    data = bytearray(encode(tone(LEFT_HZ, 8000), 8000, "WAV", "PCM_16"))
    struct.pack_into("<I", data, 40, 0)  # data chunk length still 0, audio after it
    assert "recorder probably stopped" in decode_error(bytes(data))


def test_streaming_wav_with_unknown_length_decodes() -> None:
    data = bytearray(encode(tone(LEFT_HZ, 8000), 8000, "WAV", "PCM_16"))
    struct.pack_into("<I", data, 4, 0xFFFFFFFF)
    struct.pack_into("<I", data, 40, 0xFFFFFFFF)
    assert_clean(decode_bytes(bytes(data), "stream.wav"))


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("MP3", None), ("FLAC", None)])
def test_truncated_file_keeps_what_decodes(
    caplog: pytest.LogCaptureFixture, fmt: str, subtype: str | None
) -> None:
    whole = encode(two_tones(8000, seconds=10), 8000, fmt, subtype)

    with caplog.at_level(logging.WARNING):
        audio = decode_bytes(whole[: len(whole) // 2], "cut.bin")

    assert 2.0 < audio.duration < 6.0
    assert [t.speaker for t in audio.tracks] == list(DEFAULT_CHANNELS)
    assert "cut.bin: truncated or damaged" in caplog.text


def test_truncated_below_a_second_is_refused() -> None:
    whole = encode(two_tones(8000), 8000, "WAV", "PCM_16")
    assert "is truncated or damaged: only 0.25 s decode" in decode_error(whole[: 44 + 8000])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "looks like an HTML page"),
        (b"\n  <html><head><title>Login</title>", "looks like an HTML page"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://169.254.169.254/x.ts\n", "M3U/HLS playlist"),
        (b'{"error": "recording not found"}', "looks like JSON"),
        (b"Recording not found\n", "looks like a text file"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(64), "MP4/M4A"),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(64), "RIFF file but not WAV"),
        (b"OggS\x00\x02" + bytes(22) + b"\x7fFLAC" + bytes(64), "neither Vorbis nor Opus"),
        (np.random.default_rng(7).bytes(4096), "not a recognised audio file"),
    ],
    ids=["html", "html-late", "m3u8", "json", "text", "m4a", "avi", "ogg-flac", "random"],
)
def test_not_audio_is_named(data: bytes, expected: str) -> None:
    assert expected in decode_error(data)


@pytest.mark.parametrize(
    ("fmt", "subtype", "expected"),
    [
        ("AIFF", "PCM_16", "AIFF"),
        ("W64", "PCM_16", "Wave64"),
        ("CAF", "PCM_16", "CAF"),
        ("NIST", "PCM_16", "NIST SPHERE"),
        ("WAV", "IMA_ADPCM", "IMA ADPCM codec"),
        ("WAV", "MS_ADPCM", "Microsoft ADPCM codec"),
        ("WAV", "G721_32", "G.721 ADPCM codec"),
    ],
)
def test_audio_outside_the_allow_list_is_refused(fmt: str, subtype: str, expected: str) -> None:
    assert expected in decode_error(encode(tone(LEFT_HZ, 8000), 8000, fmt, subtype))


def test_raw_pcm_without_header_is_refused() -> None:
    raw = (two_tones(8000) * 32767).astype("<i2").tobytes()
    assert "Headerless raw PCM" in decode_error(raw, "call-stereo.raw")


def test_damaged_file_of_an_allowed_kind() -> None:
    mp3 = encode(tone(LEFT_HZ, 8000), 8000, "MP3")
    assert "is damaged or not really MP3" in decode_error(mp3[:200], "call.mp3")


def test_container_mismatch_is_refused() -> None:
    id3_then_flac = b"ID3\x04\x00\x00\x00\x00\x00\x00" + encode(tone(LEFT_HZ, 8000), 8000, "FLAC")
    assert "not really MP3" in decode_error(id3_then_flac, "call.mp3")


def test_zero_samples_after_decoding() -> None:
    empty_ogg = encode(np.zeros((0, 1), np.float32), 8000, "OGG", "VORBIS")
    assert "contains no audio" in decode_error(empty_ogg, "call.ogg")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(np.zeros((800, 3), np.float32), 8000, "FLAC"), "has 3 channels; callscribe needs"),
        (encode(np.zeros((800, 9), np.float32), 8000, "WAV"), "has 9 channels; callscribe needs"),
        (encode(tone(LEFT_HZ, 2000), 2000, "WAV"), "sample rate of 2000 Hz"),
        (encode(tone(LEFT_HZ, 8000), 384000, "WAV"), "sample rate of 384000 Hz"),
    ],
    ids=["3ch-flac", "9ch-wav", "2kHz", "384kHz"],
)
def test_unusable_layout_is_refused(data: bytes, expected: str) -> None:
    assert expected in decode_error(data)


@pytest.mark.parametrize(("bits", "block"), [(7, 4), (16, 3), (0, 4), (40, 10)])
def test_a_wav_header_that_contradicts_itself_is_refused(bits: int, block: int) -> None:
    """Found by the hostile corpus: libsndfile reads 7-bit samples of a file whose blocks
    are 16-bit stereo as 8-bit, twice as much noise as the file holds."""
    data = bytearray(encode(two_tones(8000), 8000, "WAV"))
    struct.pack_into("<HH", data, 32, block, bits)  # fmt's block align and bits per sample
    assert "header contradicts itself" in decode_error(bytes(data))


def test_too_long_is_refused_from_the_header() -> None:
    data = encode(two_tones(8000), 8000, "OGG", "VORBIS")
    reason = decode_error(data, limits=AudioLimits(max_duration_seconds=2.0))
    assert "is 3.0 s long according to its header, over the 2.0 s limit" in reason


def test_too_big_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "big.wav", encode(two_tones(8000), 8000, "WAV"))
    reason = r"^recording is 93\.8 KiB, over the 1000 bytes limit .* — .*big\.wav$"
    with pytest.raises(AudioError, match=reason):
        decode_file(path, limits=AudioLimits(max_file_bytes=1000))


def _lying_wav() -> bytes:
    data = bytearray(encode(tone(LEFT_HZ, 8000, seconds=0.1), 8000, "WAV", "PCM_16")[:1024])
    struct.pack_into("<I", data, 4, 0xFFFFFFF0)
    struct.pack_into("<I", data, 40, 2 * 10**9)  # 10^9 frames of 16-bit mono
    return bytes(data)


def _lying_flac() -> bytes:
    data = bytearray(encode(tone(LEFT_HZ, 8000, seconds=0.1), 8000, "FLAC"))
    # STREAMINFO's total-samples field: the low 36 bits of the 8 bytes at offset 18.
    (packed,) = struct.unpack_from(">Q", data, 18)
    struct.pack_into(">Q", data, 18, (packed & ~((1 << 36) - 1)) | 10**9)
    return bytes(data)


@pytest.mark.parametrize("data", [_lying_wav(), _lying_flac()], ids=["wav", "flac"])
def test_header_declaring_a_billion_frames_is_refused_fast_and_small(data: bytes) -> None:
    assert len(data) < 2048
    tracemalloc.start()
    started = time.perf_counter()
    try:
        reason = decode_error(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "long according to its header" in reason
    assert elapsed < 1.0
    assert peak < 1 << 20  # 10^9 float32 frames would be 4 GB


# --- channel map ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operator,client", (Speaker.OPERATOR, Speaker.CLIENT)),
        (" Client , Operator ", (Speaker.CLIENT, Speaker.OPERATOR)),
    ],
)
def test_parse_channel_map(text: str, expected: tuple[Speaker, Speaker]) -> None:
    assert parse_channel_map(text) == expected


@pytest.mark.parametrize("text", ["", "operator", "operator,operator", "left,right", "a,b,c"])
def test_parse_channel_map_refuses_anything_else(text: str) -> None:
    with pytest.raises(ConfigError, match="'operator,client' or 'client,operator'"):
        parse_channel_map(text)


# --- real recordings ------------------------------------------------------------------------


@pytest.mark.skipif(not EXAMPLE_CALL.exists(), reason="examples/ sample call not present")
def test_example_call_in_the_repository() -> None:
    audio = decode_file(EXAMPLE_CALL)
    assert [t.speaker for t in audio.tracks] == [Speaker.OPERATOR, Speaker.CLIENT]
    assert audio.original_sample_rate == 8000
    assert_clean(audio, seconds=93.61)


needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="/work/shared not mounted")


@needs_shared
def test_real_asterisk_missed_calls_are_header_only() -> None:
    missed = [p for p in (SHARED / "asterisk/recordings").glob("*.wav") if p.stat().st_size == 44]
    assert missed
    for path in missed:
        with pytest.raises(AudioError, match=r"contains no audio \(header only\)"):
            decode_file(path)


@needs_shared
def test_real_asterisk_raw_recording_is_refused() -> None:
    (raw,) = (SHARED / "asterisk/recordings").glob("*-stereo.raw")
    with pytest.raises(AudioError, match="Headerless raw PCM"):
        decode_file(raw)


@needs_shared
def test_real_mono_mp3_sample() -> None:
    audio = decode_file(SHARED / "samples/call-public-00.mono.mp3")
    assert [t.speaker for t in audio.tracks] == [Speaker.UNKNOWN]
    assert audio.original_format == "MP3/MPEG_LAYER_III"
    assert_clean(audio, seconds=39.23)
