"""What a recording's first bytes and header say, checked before any sample is decoded.

libsndfile guesses formats on its own and parses whatever it is given, and its parsers have a
CVE history (reference/reliability.md §4).  So the bytes are matched against a short
allow-list first; anything else is refused here with a message that says what it looks like
(an HTML error page, a playlist, an M4A...).  For WAV the ``fmt `` chunk is read here too,
because the vulnerable code (ADPCM block maths, divide-by-zero on a zero rate or channel
count) runs while libsndfile *opens* the file: refusing those codecs and values afterwards
would be too late.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import soundfile

from callscribe.errors import AudioError

#: How much of the file is read for sniffing; WAV chunks before ``data`` (LIST, bext, JUNK)
#: are rarely more than a few kB.
HEAD_BYTES = 64 * 1024

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 192_000

#: Data chunk length written by streaming WAV writers that never come back to fix it.
WAV_UNKNOWN_LENGTH = 0xFFFFFFFF


class Container(enum.StrEnum):
    WAV = "WAV"
    MP3 = "MP3"
    OGG = "OGG"
    FLAC = "FLAC"


#: What libsndfile must report for each sniffed container: (formats, subtypes).
ALLOWED: dict[Container, tuple[frozenset[str], frozenset[str]]] = {
    Container.WAV: (
        frozenset({"WAV", "WAVEX"}),
        frozenset(
            {"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW", "GSM610"}
        ),
    ),
    Container.MP3: (frozenset({"MP3"}), frozenset({"MPEG_LAYER_III"})),
    Container.OGG: (frozenset({"OGG"}), frozenset({"VORBIS", "OPUS"})),
    Container.FLAC: (frozenset({"FLAC"}), frozenset({"PCM_S8", "PCM_16", "PCM_24"})),
}

# WAVE format tags libsndfile decodes without its ADPCM code paths: PCM, IEEE float, A-law,
# µ-law, GSM 6.10 (Asterisk's "wav49").  0xFFFE (extensible) is resolved to its sub-format.
_WAV_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0x0031})
_WAV_EXTENSIBLE = 0xFFFE
# Sample sizes in bits of PCM (1..32: 12- or 20-bit samples sit in 16- or 24-bit blocks) and
# IEEE float; each channel's sample takes whole bytes of the block.
_SAMPLE_BITS = {0x0001: range(1, 33), 0x0003: (32, 64)}
_WAV_TAG_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0040: "G.721 ADPCM",
    0x0055: "MP3",
    0x0064: "G.726 ADPCM",
}
_SUPPORTED = "WAV (PCM, float, µ-law, A-law, GSM 6.10), MP3, OGG (Vorbis, Opus) or FLAC"

# Things people save under a recording's name, checked after leading whitespace is stripped.
_TEXT_KINDS = (
    (b"<!doctype", "looks like an HTML page, not audio (often an error or login page)"),
    (b"<html", "looks like an HTML page, not audio (often an error or login page)"),
    (b"<?xml", "looks like an XML document, not audio"),
    (b"#extm3u", "is an M3U/HLS playlist, not audio; callscribe does not follow playlists"),
    (b"{", "looks like JSON, not audio (perhaps an API error response)"),
)
# (offset, magic, reason) for formats that are recognisable but not accepted.
_BINARY_KINDS = (
    (0, b"#!AMR", "is AMR audio, which callscribe does not decode"),
    (4, b"ftyp", f"is an MP4/M4A file, which callscribe does not decode ({_SUPPORTED} are)"),
    (0, b"FORM", "is an AIFF/IFF file, which callscribe does not accept"),
    (0, b".snd", "is a Sun AU file, which callscribe does not accept"),
    (0, b"RF64", "is an RF64 (64-bit WAV) file, which callscribe does not accept"),
    (0, b"riff", "is a Sony Wave64 file, which callscribe does not accept"),
    (0, b"caff", "is an Apple CAF file, which callscribe does not accept"),
    (0, b"NIST_1A", "is a NIST SPHERE file, which callscribe does not accept"),
    (0, b"RIFF", "is a RIFF file but not WAV audio (AVI video, perhaps)"),
    (0, b"PK\x03\x04", "is a ZIP archive, not audio"),
    (0, b"\x1f\x8b", "is a gzip archive, not audio"),
    (0, b"%PDF", "is a PDF document, not audio"),
)


@dataclass(frozen=True, slots=True)
class WavHeader:
    """The ``fmt `` and ``data`` facts of a WAV file, as its header states them."""

    channels: int
    sample_rate: int
    byte_rate: int
    data: tuple[int, int] | None  # (offset, declared length); None if beyond HEAD_BYTES


@dataclass(frozen=True, slots=True)
class Sniffed:
    container: Container
    wav: WavHeader | None = None


def sniff(head: bytes, source: str) -> Sniffed:
    """Name the allowed container *head* starts with, or raise AudioError saying what it is."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed(Container.WAV, _wav_header(head, source))
    if head[:4] == b"fLaC":
        return Sniffed(Container.FLAC)
    if head[:4] == b"OggS":
        if b"\x01vorbis" in head[:128] or b"OpusHead" in head[:128]:
            return Sniffed(Container.OGG)
        raise AudioError(source, "is an Ogg file whose audio is neither Vorbis nor Opus")
    # An ID3v2 tag can be large (cover art); what follows it is left to libsndfile, whose
    # reported format must then say MP3.
    if head[:3] == b"ID3" or _mpeg_layer(head) == 3:
        return Sniffed(Container.MP3)
    raise AudioError(source, _describe_unknown(head))


def _wav_header(head: bytes, source: str) -> WavHeader:
    fmt: tuple[int, int, int, int, int, int] | None = None
    data = None
    offset = 12
    while offset + 8 <= len(head) and data is None:
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        body = head[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAV_EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)  # first bytes of SubFormat GUID
            fmt = (tag, channels, rate, byte_rate, block, bits)
        elif chunk_id == b"data":
            data = (offset + 8, size)
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise AudioError(source, "is a WAV file without a readable format (fmt) chunk")
    tag, channels, rate, byte_rate, block, bits = fmt
    if tag not in _WAV_TAGS:
        name = _WAV_TAG_NAMES.get(tag, f"format 0x{tag:04X}")
        # Said out loud because an admin may ask why a file every player opens is refused.
        why = " (libsndfile's ADPCM decoders have had overflow bugs)" if "ADPCM" in name else ""
        raise AudioError(
            source,
            f"is a WAV file using the {name} codec, which callscribe does not decode{why}; "
            "convert it to PCM, µ-law or A-law WAV",
        )
    if channels == 0 or rate == 0 or byte_rate == 0:
        raise AudioError(
            source, "is a WAV file whose header declares zero channels, sample rate or byte rate"
        )
    if tag in _SAMPLE_BITS and (
        bits not in _SAMPLE_BITS[tag] or block != channels * ((bits + 7) // 8)
    ):
        # libsndfile believes the sample size and ignores the block size, so a header
        # that contradicts itself decodes the samples as noise of another length.
        raise AudioError(
            source,
            f"is a WAV file whose header contradicts itself: {channels} channel(s) of {bits}-bit "
            f"samples, in blocks of {block} bytes",
        )
    return WavHeader(channels, rate, byte_rate, data)


def _mpeg_layer(head: bytes) -> int | None:
    """The MPEG audio layer (1-3) if *head* starts with an MPEG frame header, else None."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    bits = (head[1] >> 1) & 0b11
    return 4 - bits if bits else None


def _describe_unknown(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:16].lower()
    for prefix, reason in _TEXT_KINDS:
        if text.startswith(prefix):
            return reason
    for offset, magic, reason in _BINARY_KINDS:
        if head[offset : offset + len(magic)] == magic:
            return reason
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "is raw AAC (ADTS) audio, which callscribe does not decode"
    if _mpeg_layer(head) in (1, 2):
        return "is MPEG layer I/II audio, not MP3; callscribe does not accept it"
    # A multi-byte character cut at the 512th byte decodes as U+FFFD at the very end only.
    sample = head[:512].decode(errors="replace").rstrip("\ufffd")
    if sample and "\ufffd" not in sample and all(c.isprintable() or c in "\t\r\n" for c in sample):
        return f"looks like a text file, not audio (it starts with {sample[:40]!r})"
    return (
        f"is not a recognised audio file (expected {_SUPPORTED}); it starts with bytes "
        f"{head[:8].hex(' ')}. Headerless raw PCM (such as Asterisk's .raw/.sln) is not "
        "accepted: without a header its sample rate and channel layout would be guesswork"
    )


def check_wav_header(wav: WavHeader, size: int, source: str, max_seconds: float) -> None:
    """Refuse what the WAV header alone shows to be unusable, before libsndfile parses it."""
    _check_layout(wav.channels, wav.sample_rate, source)
    if wav.data is None:  # libsndfile's frame count is checked instead
        return
    offset, length = wav.data
    available = size - offset
    if available <= 0:
        raise AudioError(source, "contains no audio (header only)")
    if length == 0:
        # libsndfile would decode nothing; guessing the length is not worth the risk.
        raise AudioError(
            source,
            f"has a header that declares no audio although {human_size(available)} follow it; "
            "the recorder probably stopped before it finished the file",
        )
    if length != WAV_UNKNOWN_LENGTH:
        note = ""
        if wav_cut_short(wav, size):
            note = f"; the file is only {human_size(size)}, so the header is wrong or it was cut"
        _check_duration(length / wav.byte_rate, source, max_seconds, note)


def wav_cut_short(wav: WavHeader, size: int) -> bool:
    """Whether the data chunk runs past the end of the file (libsndfile quietly shortens it)."""
    if wav.data is None:
        return False
    offset, length = wav.data
    return length != WAV_UNKNOWN_LENGTH and length > size - offset


def check_declared(
    sound: soundfile.SoundFile, sniffed: Sniffed, source: str, max_seconds: float
) -> None:
    """Check what libsndfile read from the header, before anything is decoded."""
    formats, subtypes = ALLOWED[sniffed.container]
    if sound.format not in formats:
        raise AudioError(
            source,
            f"starts like {sniffed.container} but decodes as {sound.format}; refusing the mismatch",
        )
    if sound.subtype not in subtypes:
        raise AudioError(
            source, f"uses {sound.format}/{sound.subtype}, which callscribe does not decode"
        )
    _check_layout(sound.channels, sound.samplerate, source)
    if sound.frames == 0:
        raise AudioError(source, "contains no audio (0 samples)")
    _check_duration(sound.frames / sound.samplerate, source, max_seconds)


def _check_layout(channels: int, rate: int, source: str) -> None:
    if channels not in (1, 2):
        raise AudioError(
            source,
            f"has {channels} channels; callscribe needs mono or stereo "
            "(one channel per side of the call)",
        )
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            source,
            f"declares a sample rate of {rate} Hz, outside the "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz callscribe accepts",
        )


def _check_duration(seconds: float, source: str, max_seconds: float, note: str = "") -> None:
    if seconds > max_seconds:
        raise AudioError(
            source,
            f"is {_human_duration(seconds)} long according to its header, over the "
            f"{_human_duration(max_seconds)} limit (max_duration_seconds){note}",
        )


def human_size(size: float) -> str:
    if size < 1024:
        return f"{size:.0f} bytes"
    for unit in ("KiB", "MiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GiB"


def _human_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# What libsndfile says that is not true of a file callscribe opened itself: its MP3 reader
# answers a stream with no readable frame as if the file were missing.
_MISLEADING = {
    "File does not exist or is not a regular file (possibly a pipe?).": "no frame could be read",
}


def libsndfile_message(exc: Exception) -> str:
    """libsndfile's own words, without soundfile's "Error opening <object ...>:" prefix."""
    text = str(getattr(exc, "error_string", None) or exc).strip()
    return _MISLEADING.get(text, text)
