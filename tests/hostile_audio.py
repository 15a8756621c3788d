"""A corpus of hostile "recordings", made from the sample calls at test time (none are
committed): files that lie in their headers, are cut short, are something else posing as
audio, or are mutated at random.  Every one of them must end as a failed call with its
reason (tests/e2e/test_hostile_audio.py); ``python -m tests.hostile_audio DIR`` writes them
out for a look.

Each file is as short as it can be while still being what it claims: audio shorter than
the second a damaged file must keep to be transcribed, or headers that refuse it.
"""

from __future__ import annotations

import io
import random
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.samples import SAMPLES

RATE = 8000
SEED = 22


@dataclass(frozen=True)
class Hostile:
    name: str  # file name, which says the family and the case
    family: str
    data: bytes


def _sample(seconds: float, channels: int = 2) -> np.ndarray:
    audio, rate = sf.read(
        SAMPLES / "call-public-00.wav", dtype="float32", frames=int(seconds * RATE)
    )
    assert rate == RATE
    return audio if channels == 2 else audio.mean(axis=1)


def encoded(seconds: float, fmt: str, subtype: str, channels: int = 2) -> bytes:
    out = io.BytesIO()
    sf.write(out, _sample(seconds, channels), RATE, format=fmt, subtype=subtype)
    return out.getvalue()


def wav(
    *,
    tag: int = 1,
    channels: int = 2,
    rate: int = RATE,
    bits: int = 16,
    byte_rate: int | None = None,
    data: bytes = b"",
    data_size: int | None = None,
    riff_size: int | None = None,
    before_fmt: bytes = b"",
    fmt_size: int = 16,
) -> bytes:
    """A WAV file whose every header field can be made to lie."""
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH",
        tag,
        channels,
        rate,
        (rate * block if byte_rate is None else byte_rate) % 2**32,
        block % 2**16,
        bits,
    )[:fmt_size]
    body = (
        b"WAVE" + before_fmt
        + b"fmt " + struct.pack("<I", fmt_size) + fmt
        + b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    )  # fmt: skip
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _lying_wavs() -> Iterator[tuple[str, bytes]]:
    pcm = encoded(0.5, "RAW", "PCM_16")  # half a second: too little to keep from a cut file
    for channels in (0, 3, 6, 9, 65535):
        yield f"channels-{channels}", wav(channels=channels, data=pcm)
    for rate in (0, 1, 3999, 192_001, 2**31, 2**32 - 1):
        yield f"rate-{rate}", wav(rate=rate, data=pcm)
    yield "byte-rate-0", wav(byte_rate=0, data=pcm)
    for tag, name in ((2, "ms-adpcm"), (0x11, "ima-adpcm"), (0x40, "g721"), (0x55, "mp3-in-wav"),
                      (0x64, "g726"), (0x1234, "unknown-codec"), (0, "tag-0")):  # fmt: skip
        yield f"codec-{name}", wav(tag=tag, data=pcm)
    hours = (3600 * RATE * 4, 10 * 3600 * RATE * 4, 2**32 - 2)
    for size in hours:
        yield (
            f"claims-{size // (RATE * 4 * 3600)}h-holds-half-a-second",
            wav(data=pcm, data_size=size),
        )
    yield "claims-3h-holds-nothing", wav(data=b"", data_size=3 * 3600 * RATE * 4)
    yield "data-size-0-then-audio", wav(data=pcm, data_size=0)
    yield "header-only", wav(data=b"")
    three_hours = 3 * 3600 * RATE * 4
    yield "riff-size-0-claims-3h", wav(data=pcm, riff_size=0, data_size=three_hours)
    yield "riff-size-huge-claims-3h", wav(data=pcm, riff_size=2**32 - 1, data_size=three_hours)
    yield "fmt-truncated", wav(data=pcm, fmt_size=10)
    yield (
        "no-fmt-chunk",
        b"RIFF"
        + struct.pack("<I", 12 + len(pcm))
        + b"WAVEdata"
        + struct.pack("<I", len(pcm))
        + pcm,
    )
    yield "fmt-after-64k-of-junk", wav(data=pcm, before_fmt=b"JUNK" + struct.pack("<I", 70_000)
                                       + b"\0" * 70_000)  # fmt: skip
    yield "chunk-size-wraps", wav(data=pcm, before_fmt=b"LIST" + struct.pack("<I", 2**32 - 8))
    yield "bits-0", wav(bits=0, data=pcm)
    yield "bits-7", wav(bits=7, data=pcm)
    yield "bits-64-pcm", wav(bits=64, data=pcm)
    nan = np.full(RATE * 2, np.nan, dtype="<f4").tobytes()
    yield "float-all-nan", wav(tag=3, bits=32, data=nan)
    inf = np.full(RATE * 2, np.inf, dtype="<f4").tobytes()
    yield "float-all-inf", wav(tag=3, bits=32, data=inf)
    yield "extensible-bad-subformat", wav(tag=0xFFFE, data=pcm, fmt_size=16)


def _impostors(leak_to: str) -> Iterator[tuple[str, bytes]]:
    """Files that are not audio at all, under a recording's name.  The playlists name
    ``leak_to`` and local files: a decoder that followed them would be seen there."""
    yield (
        "hls-playlist",
        (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + leak_to.encode() + b"\n"
            b"#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        ),
    )
    yield "hls-playlist-bom", b"\xef\xbb\xbf #EXTM3U\nconcat:file:///etc/shadow|http://x\n"
    yield "html-404", b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n"
    yield "html-login", b"\n\n  <html><form action=/login>" + b"x" * 5000
    yield "json-error", b'{"error": "recording not found", "code": 404}'
    yield "xml-error", b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>'
    yield "empty", b""
    yield "one-byte", b"R"
    yield "riff-only", b"RIFF"
    yield "zip", b"PK\x03\x04" + bytes(200)
    yield "gzip", b"\x1f\x8b\x08\x00" + bytes(200)
    yield "pdf", b"%PDF-1.7\n" + bytes(200)
    yield "m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(200)
    yield "amr", b"#!AMR\n" + bytes(200)
    yield "aiff", b"FORM\x00\x00\x10\x00AIFFCOMM" + bytes(200)
    yield "sun-au", b".snd\x00\x00\x00\x18" + bytes(200)
    yield "rf64", b"RF64\xff\xff\xff\xffWAVEds64" + bytes(200)
    yield "wave64", b"riff.\x91\xcf\x11\xa5\xd6(\xdb\x04\xc1\x00\x00" + bytes(200)
    yield "caf", b"caff\x00\x01\x00\x00desc" + bytes(200)
    yield "nist-sphere", b"NIST_1A\n   1024\n" + bytes(200)
    yield "avi", b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(200)
    yield "raw-pcm", encoded(3.0, "RAW", "PCM_16")
    yield "raw-alaw", encoded(3.0, "RAW", "ALAW")
    yield "adts-aac", b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(300)
    yield "mpeg-layer-2", (b"\xff\xfd\x90\x00" + bytes(413)) * 20  # frame headers, silence
    yield "mpeg-layer-1", (b"\xff\xff\x90\x00" + bytes(380)) * 20
    yield "text", "Запись разговора недоступна\n".encode() * 20
    yield "noise", random.Random(SEED).randbytes(4000)
    yield "zeros", bytes(4000)
    yield "ogg-flac-stream", b"OggS\x00\x02" + bytes(20) + b"\x7fFLAC" + bytes(200)


def flac_bomb(hours: float) -> bytes:
    """Hours of silence: a few hundred kilobytes of FLAC that decode to gigabytes."""
    out = io.BytesIO()
    block = np.zeros(RATE * 600, dtype=np.int16)  # ten minutes at a time
    with sf.SoundFile(out, "w", 4000, 1, format="FLAC", subtype="PCM_16") as sound:
        for _ in range(int(hours * 6)):
            sound.write(block)
    return out.getvalue()


def _bombs() -> Iterator[tuple[str, bytes]]:
    bomb = flac_bomb(4.5)
    yield "flac-bomb-4.5h-of-silence", bomb
    # The same stream claiming to be short (STREAMINFO's total samples, bytes 22-25 of the
    # 36-bit field): decoding must stop at what the header says, or refuse.
    unknown = bytearray(bomb)
    unknown[21] &= 0xF0
    unknown[22:26] = b"\0\0\0\0"
    yield "flac-bomb-length-unknown", bytes(unknown)


def _truncated(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Each accepted format cut inside its header and inside its first half second."""
    made = {
        "wav-pcm16": encoded(3.0, "WAV", "PCM_16"),
        "wav-ulaw": encoded(3.0, "WAV", "ULAW"),
        "wav-alaw": encoded(3.0, "WAV", "ALAW"),
        "wav-gsm": encoded(3.0, "WAV", "GSM610", channels=1),
        "wav-float": encoded(3.0, "WAV", "FLOAT"),
        "mp3": encoded(3.0, "MP3", "MPEG_LAYER_III", channels=1),
        "ogg-vorbis": encoded(3.0, "OGG", "VORBIS"),
        "ogg-opus": encoded(3.0, "OGG", "OPUS"),
        "flac": encoded(3.0, "FLAC", "PCM_16"),
    }
    for kind, data in made.items():
        # At most 3 % of three seconds remains: whatever decodes is under the second a
        # cut file must keep (and a cut Ogg stream, which no header describes, is empty).
        limit = len(data) * 3 // 100
        cuts = {1, 4, 11, 12, 20, 36, 43, 44, 60, 100, 200, 300}
        cuts |= {rng.randrange(44, max(45, limit)) for _ in range(4)}
        for cut in sorted(c for c in cuts if c <= max(limit, 300)):
            yield f"{kind}-cut-at-{cut}", data[:cut]


def _mutants(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Accepted formats with random bytes of their header changed, and their audio cut to
    a fraction of a second.  Unlike the families above, a mutation may happen to leave a
    valid short recording (a frame count made smaller, say): such a file may decode, as
    far as its header vouches, and be transcribed; the rest must fail."""
    for kind, (fmt, subtype, channels) in {
        "wav": ("WAV", "PCM_16", 2),
        "wav-gsm": ("WAV", "GSM610", 1),
        "mp3": ("MP3", "MPEG_LAYER_III", 1),
        "ogg": ("OGG", "VORBIS", 2),
        "flac": ("FLAC", "PCM_16", 2),
    }.items():
        data = encoded(3.0, fmt, subtype, channels)
        keep = len(data) // 20  # three seconds cut to a fraction of one
        for n in range(12):
            mutant = bytearray(data[:keep])
            for _ in range(rng.randint(1, 6)):
                mutant[rng.randrange(min(64, len(mutant)))] = rng.randrange(256)
            yield f"{kind}-mutant-{n}", bytes(mutant)


#: Families whose every file must fail; "mutant" files may decode (see _mutants).
MUST_FAIL = ("lying-wav", "impostor", "bomb", "truncated")


def corpus(seed: int = SEED, leak_to: str = "http://127.0.0.1:9/leak.ts") -> list[Hostile]:
    rng = random.Random(seed)
    families: dict[str, Iterator[tuple[str, bytes]]] = {
        "lying-wav": _lying_wavs(),
        "impostor": _impostors(leak_to),
        "bomb": _bombs(),
        "truncated": _truncated(rng),
        "mutant": _mutants(rng),
    }
    return [
        Hostile(f"{family}--{case}.wav", family, data)
        for family, made in families.items()
        for case, data in made
    ]


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    made = corpus()
    for item in made:
        (target / item.name).write_bytes(item.data)
    print(f"{len(made)} files in {target}")
