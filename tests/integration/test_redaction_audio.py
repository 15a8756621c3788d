"""Silencing redacted spans in a copy of a recording: the energy in each span is gone,
everything outside it is as it was, the format stays (redaction/audio.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from callscribe.errors import AudioError
from callscribe.redaction import silence_spans
from tests.samples import SAMPLES

CARD_CALL = Path(__file__).parent.parent / "data" / "redaction" / "card-call.wav"
SPANS = [(1.2, 4.3), (6.3, 9.3)]  # the client reading the first two groups


def read(path: Path, dtype: str = "float64") -> tuple[npt.NDArray[np.float64], int]:
    audio, rate = sf.read(path, dtype=dtype, always_2d=True)
    return audio, rate


def dbfs(audio: npt.NDArray[np.float64]) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-12))


def inside(
    audio: npt.NDArray[np.float64], rate: int, span: tuple[float, float], margin: float = 0.0
) -> npt.NDArray[np.float64]:
    return audio[int((span[0] + margin) * rate) : int((span[1] - margin) * rate)]


def test_pcm_is_silenced_in_the_spans_and_sample_exact_elsewhere(tmp_path: Path) -> None:
    target = silence_spans(CARD_CALL, SPANS, tmp_path / "call.wav")
    assert target == tmp_path / "call.wav"
    before, after = sf.info(CARD_CALL), sf.info(target)
    assert (after.format, after.subtype, after.samplerate, after.channels, after.frames) == (
        before.format,
        before.subtype,
        before.samplerate,
        before.channels,
        before.frames,
    )
    original, rate = read(CARD_CALL, "int16")
    silenced, _ = read(target, "int16")
    mask = np.zeros(len(original), dtype=bool)
    for span in SPANS:
        assert dbfs(inside(original.astype(np.float64) / 32768, rate, span)) > -40  # speech
        mask[int(span[0] * rate) : int(np.ceil(span[1] * rate))] = True
    assert not silenced[mask].any()
    assert np.array_equal(silenced[~mask], original[~mask])


@pytest.mark.parametrize(
    ("subtype", "exact"), [("ULAW", True), ("ALAW", True), ("GSM610", False), ("PCM_U8", True)]
)
def test_telephony_codecs_keep_their_codec(tmp_path: Path, subtype: str, exact: bool) -> None:
    mono, rate = read(CARD_CALL)
    source = tmp_path / f"call-{subtype}.wav"
    sf.write(source, mono[:, 1], rate, subtype=subtype)  # the client's side
    target = silence_spans(source, SPANS, tmp_path / "silenced.wav")
    assert sf.info(target).subtype == subtype
    original, _ = read(source)
    silenced, _ = read(target)
    for span in SPANS:
        assert dbfs(inside(original, rate, span)) > -40
        # GSM decodes the first 0.2 s after speech as its fading echo, then silence.
        assert dbfs(inside(silenced, rate, span, margin=0.0 if exact else 0.25)) < -60
    outside = slice(int(10.5 * rate), int(12.5 * rate))  # the third group, left alone
    if exact:
        assert np.array_equal(silenced[outside], original[outside])
    else:  # encoded again: the same sound, not the same samples
        assert abs(dbfs(silenced[outside]) - dbfs(original[outside])) < 1.5


def test_an_mp3_stays_an_mp3(tmp_path: Path) -> None:
    source = SAMPLES / "call-public-00.mono.mp3"
    span = (1.0, 4.0)  # the operator's first sentence
    target = silence_spans(source, [span], tmp_path / "call.mp3")
    assert sf.info(target).format == "MP3"
    original, rate = read(source)
    silenced, _ = read(target)
    assert dbfs(inside(original, rate, span)) > -40
    # The encoder's delay and smear stay well inside a tenth of a second.
    assert dbfs(inside(silenced, rate, span, margin=0.1)) < -55
    assert abs(len(silenced) - len(original)) < rate  # same length, give or take a frame or two
    speech = (5.3, 8.0)  # the client's answer, left alone
    assert abs(dbfs(inside(silenced, rate, speech)) - dbfs(inside(original, rate, speech))) < 1.5


def test_spans_past_the_end_or_overlapping_are_fine(tmp_path: Path) -> None:
    duration = sf.info(CARD_CALL).duration
    target = silence_spans(
        CARD_CALL,
        [(duration - 1, duration + 5), (1.0, 3.0), (2.0, 2.5), (4, 4)],
        tmp_path / "x.wav",
    )
    silenced, rate = read(target)
    assert not inside(silenced, rate, (duration - 1, duration)).any()
    assert not inside(silenced, rate, (1.0, 3.0)).any()


def test_what_is_not_audio_is_refused_by_name(tmp_path: Path) -> None:
    page = tmp_path / "recording.wav"
    page.write_bytes(b"<!DOCTYPE html><html>404</html>")
    with pytest.raises(
        AudioError, match=r"^recording looks like an HTML page.* — .*recording\.wav$"
    ):
        silence_spans(page, SPANS, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


def test_a_target_that_cannot_be_written_is_named_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "missing"
    with pytest.raises(AudioError, match=r"^recording cannot be silenced: writing .* failed"):
        silence_spans(CARD_CALL, SPANS, folder / "out.wav")
    assert not folder.exists()
