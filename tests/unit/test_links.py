"""Signed recording links: what they look like, what opens them, where the key lives,
and which link the pipeline gives a platform."""

from __future__ import annotations

import logging
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from callscribe.config.daemon import DaemonSettings
from callscribe.config.settings import Settings
from callscribe.daemon.byte_ranges import UnsatisfiableRangeError, requested_range
from callscribe.daemon.links import KEY_FILE, RecordingLinks, recording_links, stored_key
from callscribe.daemon.pipeline import recording_link
from callscribe.domain import Call, CallEvent, CallState, RecordingRef
from callscribe.errors import ConfigError

KEY = b"k" * 43
NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
HOUR = 3600


def links(clock: list[float], key: bytes = KEY, days: float = 7) -> RecordingLinks:
    return RecordingLinks(key, "https://calls.example.com/", days * 86400, lambda: clock[0])


def parts(url: str) -> tuple[str, str, str]:
    """(path, expires, sig) of a link."""
    split = urlsplit(url)
    query = parse_qs(split.query)
    (expires,), (sig,) = query["expires"], query["sig"]
    return split.path, expires, sig


def test_a_link_names_one_calls_file_and_opens_until_it_expires() -> None:
    clock = [NOW]
    maker = links(clock)
    url = maker.url(5, ".wav")
    path, expires, sig = parts(url)
    assert url.startswith("https://calls.example.com/recordings/5/call-5.wav?expires=")
    assert path == "/recordings/5/call-5.wav"
    assert int(expires) % HOUR == 0
    assert NOW + 7 * 86400 <= int(expires) < NOW + 7 * 86400 + HOUR
    assert len(sig) == 43  # 256 bits, base64url without padding
    assert maker.check("5", expires, sig) == 5
    clock[0] = int(expires) - 1
    assert maker.check("5", expires, sig) == 5
    clock[0] = int(expires)
    assert maker.check("5", expires, sig) is None


def test_attempts_within_the_hour_give_the_same_link() -> None:
    clock = [NOW]
    maker = links(clock)
    first = maker.url(5, ".wav")
    clock[0] += 60
    assert maker.url(5, ".wav") == first


def test_no_part_of_a_link_can_be_changed() -> None:
    maker = links([NOW])
    _, expires, sig = parts(maker.url(5, ".wav"))
    assert maker.check("6", expires, sig) is None  # another call, this call's signature
    assert maker.check("5", str(int(expires) + HOUR), sig) is None  # a later expiry
    for i in range(len(sig)):
        flipped = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
        assert maker.check("5", expires, flipped) is None
    assert maker.check("5", expires, sig[:-1]) is None
    assert maker.check("5", expires, sig + "A") is None
    assert maker.check("5", expires, "") is None
    assert maker.check("5", expires, "ж" * 43) is None
    assert links([NOW], key=b"other" * 10).check("5", expires, sig) is None


@pytest.mark.parametrize("call_id", ["05", "+5", "5 ", "٥", "", "-5", "5.0"])
def test_only_the_canonical_call_id_is_accepted(call_id: str) -> None:
    maker = links([NOW])
    _, expires, sig = parts(maker.url(5, ".wav"))
    assert maker.check(call_id, expires, sig) is None


@pytest.mark.parametrize("expires", ["", "soon", "1e12", "-1", "9" * 13, "１２"])
def test_a_malformed_expiry_is_refused(expires: str) -> None:
    maker = links([NOW])
    _, _, sig = parts(maker.url(5, ".wav"))
    assert maker.check("5", expires, sig) is None


def test_the_key_is_made_once_readable_by_the_service_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state" / KEY_FILE
    key = stored_key(path)
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temporary left
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert stored_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "could be read by others" in caplog.text
    assert key.decode() not in caplog.text


def test_processes_making_the_key_at_once_agree_on_one(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(stored_key(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1
    assert len(keys) == 8


def test_a_broken_key_file_or_an_unwritable_folder_says_what_to_do(tmp_path: Path) -> None:
    short = tmp_path / KEY_FILE
    short.write_text("abc\n")
    with pytest.raises(ConfigError, match="too short; delete the file"):
        stored_key(short)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="set \\[daemon\\] link_secret"):
            stored_key(locked / KEY_FILE)


def test_links_follow_the_settings(tmp_path: Path) -> None:
    assert recording_links(DaemonSettings(state_dir=tmp_path)) is None
    assert not (tmp_path / KEY_FILE).exists()
    secret = "s" * 40
    configured = recording_links(
        DaemonSettings.model_validate(
            {"state_dir": tmp_path, "public_url": "https://x.example/cs/", "link_secret": secret}
        )
    )
    assert configured is not None
    url = configured.url(9, ".mp3")
    assert url.startswith("https://x.example/cs/recordings/9/call-9.mp3?")
    _, expires, sig = parts(url)
    assert RecordingLinks(secret.encode(), "https://x.example", 1.0).check("9", expires, sig) == 9
    assert not (tmp_path / KEY_FILE).exists()  # a configured secret needs no file
    generated = recording_links(
        DaemonSettings.model_validate({"state_dir": tmp_path, "public_url": "https://x.example"})
    )
    assert generated is not None
    assert (tmp_path / KEY_FILE).exists()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("calls.example.com", "expected an https:// address"),
        ("ftp://calls.example.com", "expected an https:// address"),
        ("https://", "expected an https:// address"),
        ("https://calls.example.com/?a=1", "no user, password, ?query or #fragment"),
        ("https://user:pw@calls.example.com", "no user, password, ?query or #fragment"),
    ],
)
def test_a_wrong_public_url_is_refused(value: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("?", "\\?")):
        DaemonSettings.model_validate({"public_url": value})


def test_a_short_link_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        DaemonSettings.model_validate({"link_secret": "short-secret-value"})
    assert "at least 32 characters" in str(caught.value)
    assert "short-secret-value" not in str(caught.value)


# --- byte ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=0-0", (0, 0)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=990-5000", (990, 999)),  # the end is clipped to the file
        ("BYTES = 1-2", (1, 2)),
        ("items=0-1", None),  # a unit we do not know: ignored
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ],
)
def test_ranges_a_player_asks_for(header: str | None, wanted: tuple[int, int] | None) -> None:
    assert requested_range(header, 1000) == wanted


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-1001", "bytes=5-2", "bytes=-0", "bytes=", "bytes=a-b",
               "bytes=--1", "bytes=1-2-3", "bytes=١-٢"],
)  # fmt: skip
def test_ranges_no_byte_answers(header: str) -> None:
    with pytest.raises(UnsatisfiableRangeError):
        requested_range(header, 1000)


def test_any_range_of_an_empty_file_is_unsatisfiable() -> None:
    with pytest.raises(UnsatisfiableRangeError):
        requested_range("bytes=-1", 0)
    with pytest.raises(UnsatisfiableRangeError):
        requested_range("bytes=0-", 0)


# --- which link a platform gets ---------------------------------------------------------


def call(source: str, location: str | None) -> Call:
    recordings = (RecordingRef(location),) if location else ()
    event = CallEvent(source=source, external_id="x", recordings=recordings)
    return Call(5, event, CallState.TRANSCRIBED, received_at=datetime.now(UTC))


SETTINGS = Settings.model_validate(
    {
        "sources": {
            "pbx": {"type": "generic", "token": "t" * 16},
            "mango-like": {"type": "generic", "token": "t" * 16, "share_recording_urls": False},
            "inbox": {"type": "directory", "path": "/srv/inbox"},
        }
    }
)


@pytest.mark.parametrize(
    ("source", "location", "kept", "served", "expected"),
    [
        ("pbx", "https://pbx.example/1.wav", True, True, "https://pbx.example/1.wav"),
        ("pbx", "https://pbx.example/1.wav", False, False, "https://pbx.example/1.wav"),
        ("mango-like", "https://files.example/once", True, True, "signed"),
        ("mango-like", "https://files.example/once", True, False, None),
        ("inbox", "/srv/inbox/a.wav", True, True, "signed"),
        ("inbox", "/srv/inbox/a.wav", False, True, None),  # retention deleted it
        ("inbox", "/srv/inbox/a.wav", True, False, None),
        ("pbx", None, False, True, None),  # a missed call
        ("gone", "https://pbx.example/1.wav", True, True, "signed"),  # source left the config
    ],
)
def test_which_link_a_platform_gets(
    source: str, location: str | None, kept: bool, served: bool, expected: str | None
) -> None:
    maker = links([NOW]) if served else None
    file = Path("/var/lib/callscribe/recordings/5/recording-0011.wav") if kept else None
    link = recording_link(call(source, location), SETTINGS.sources.get(source), file, maker)
    if expected == "signed":
        assert link is not None
        assert link.startswith("https://calls.example.com/recordings/5/call-5.wav?expires=")
    else:
        assert link == expected
