"""What a file says, from a PBX's folder or a download: FreePBX recording names, sidecars,
and the first bytes and header of a recording.

Names and sidecars go the way the directory source reads them: a recording and its
sidecar are written to a watched folder, the source scans it, and the call it reports is
stored in a real SQLite store.  A name or sidecar that is wrong costs its details, never
the call, so nothing at all may be raised.  Audio headers go through the sniffing and
WAV header checks that run before libsndfile sees a byte: ``AudioError`` is their one
documented refusal (decoding itself is fuzzed through the daemon by
tests/e2e/test_hostile_audio.py, where a decoder crash cannot take the test down).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callscribe.connectors.sources.directory import DirectorySource, DirectorySourceConfig
from callscribe.connectors.sources.freepbx_names import KINDS
from callscribe.errors import AudioError
from callscribe.store.sqlite import SqliteStore
from callscribe.transcription.audio_header import HEAD_BYTES, check_wav_header, sniff
from tests.fuzz.harness import FUZZ, Refused, checked
from tests.fuzz.strategies import JSON_VALUES, WIRE_TEXT, json_bytes, mutated, perturbed

ZONES = st.sampled_from([None, "Europe/Moscow", "Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
FOLDERS = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("fuzz-files") / "fuzz.db")
    yield store
    store.close()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("watched")


NAME_PART = st.sampled_from(["", "s", "101", "+79991234567", "anonymous", "8(495)", "*72#"]) | (
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), max_size=20)
)
DATE = st.sampled_from(
    ["20261121", "00010101", "99991231", "20261340", "20260229"]
) | st.from_regex(r"\A[0-9]{8}\Z")
TIME = st.sampled_from(["235959", "000000", "246060"]) | st.from_regex(r"\A[0-9]{6}\Z")


@st.composite
def freepbx_stem(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(list(KINDS)) | st.text("abcxyzQ", min_size=1, max_size=6))
    parts = [kind, draw(NAME_PART), draw(NAME_PART), draw(DATE), draw(TIME)]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["1730780250.107", "pbx-1730780250.107"]) | NAME_PART))
    stem = "-".join(parts)
    return stem if len(stem.encode()) <= 200 else stem[:50]


GOOD_SIDECAR = {
    "direction": "outbound",
    "started_at": "2026-11-21T10:00:00+03:00",
    "client_number": "+79991234567",
    "operator": {"id": "7", "name": "Иван"},
    "fields": {"deal": 1},
}
SIDECARS = st.one_of(
    st.none(),
    st.binary(max_size=1500),
    perturbed(GOOD_SIDECAR).map(json_bytes),
    mutated(json_bytes(GOOD_SIDECAR)),
    st.dictionaries(WIRE_TEXT, JSON_VALUES, max_size=4).map(json_bytes),
)


@FUZZ
@given(
    freepbx_stem() | st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), max_size=60),
    SIDECARS,
    ZONES,
)
@example("in-74951234567-79991234567-00010101-000000-1.1", None, "Pacific/Kiritimati")
@example("out-1-2-99991231-235959-1.1", None, "Etc/GMT+12")
def test_a_recording_named_anyhow_with_any_sidecar_is_a_stored_call(
    store: SqliteStore, folders: Path, stem: str, sidecar: bytes | None, zone: str | None
) -> None:
    folder = folders / str(next(FOLDERS))
    folder.mkdir()
    stem = stem.strip(" .") or "x"
    if len(stem.encode()) > 200:
        stem = "x"
    (folder / f"{stem}.wav").write_bytes(b"RIFF")
    if sidecar is not None:
        (folder / f"{stem}.json").write_bytes(sidecar)
    config = {"type": "directory", "path": str(folder), "settle_seconds": 0, "timezone": zone}
    source = DirectorySource("folder", DirectorySourceConfig.model_validate(config))
    checked("directory scan (names, sidecars)", source.scan, 0.0)
    (found,) = checked("directory scan (names, sidecars)", source.scan, 1.0)
    checked("directory call store", store.ingest, found.event)


# --- audio headers ---------------------------------------------------------------------


def wav_header(
    tag: int = 1, channels: int = 2, rate: int = 8000, data_size: int = 32000, riff: int = 36
) -> bytes:
    byte_rate, block = (rate * channels * 2) % 2**32, (channels * 2) % 2**16
    fmt = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, 16)
    return (
        b"RIFF" + struct.pack("<I", riff) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", data_size)
    )  # fmt: skip


U32 = st.integers(0, 2**32 - 1)
WAV_HEADERS = st.builds(
    wav_header,
    tag=st.sampled_from([1, 3, 6, 7, 0x31, 2, 0x11, 0xFFFE]) | st.integers(0, 0xFFFF),
    channels=st.integers(0, 0xFFFF),
    rate=U32,
    data_size=U32,
    riff=U32,
)
HEADS = st.one_of(
    st.binary(max_size=600),
    WAV_HEADERS,
    WAV_HEADERS.flatmap(mutated),
    st.sampled_from([b"ID3\x04", b"\xff\xfb\x90", b"OggS\x00\x02" + b"\x01vorbis", b"fLaC",
                     b"#EXTM3U\n#EXT-X-TARGETDURATION:10\nhttp://x/", b"\xef\xbb\xbf  <html>",
                     b"RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"]).flatmap(mutated),
)  # fmt: skip


@FUZZ
@given(HEADS, st.integers(0, 2**40))
@example(b"RIFF\x00\x00\x00\x00WAVE" + b"JUNK" + struct.pack("<I", 2**32 - 2), 10**6)
def test_audio_header_sniffing(head: bytes, size: int) -> None:
    head = head[:HEAD_BYTES]
    try:
        sniffed = checked("audio header sniffing", sniff, head, "fuzz.wav", allowed=(AudioError,))
    except Refused:
        return
    if sniffed.wav is not None:
        try:
            checked(
                "audio header sniffing",
                check_wav_header,
                sniffed.wav,
                max(size, len(head)),
                "fuzz.wav",
                4 * 3600.0,
                allowed=(AudioError,),
            )
        except Refused:
            return
