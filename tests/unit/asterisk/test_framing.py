"""AMI framing against the captured stream and against random, cut and oversized input
(R-AMI-5): nothing escapes but FrameTooLarge, and nothing is held past the cap."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callscribe.connectors.sources.asterisk.framing import (
    MAX_MESSAGE_BYTES,
    FrameReader,
    FrameTooLarge,
    encode_message,
    parse_message,
)
from tests.standins.asterisk import CAPTURE, captured_messages

KEYS = st.text(
    st.characters(categories=["L", "N"], include_characters="-_"), min_size=1, max_size=20
)
VALUES = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=80).map(str.strip)
MESSAGES = st.dictionaries(KEYS, VALUES, min_size=1, max_size=12)


def test_the_captured_stream_is_every_message_after_the_banner() -> None:
    reader = FrameReader()
    messages = reader.feed(CAPTURE.read_bytes())
    assert reader.banner == "Asterisk Call Manager/11.0.0"
    assert len(messages) == len(captured_messages()) == 498
    assert reader.buffered == 0
    events = [m["Event"] for m in messages if "Event" in m]
    assert events.count("Hangup") == 20
    assert events.count("Cdr") == 17
    assert messages[-1] == {
        "Response": "Goodbye",
        "ActionID": "logoff",
        "Message": "Thanks for all the fish.",
    }


def test_an_empty_value_and_a_repeated_key_are_kept() -> None:
    headers = parse_message(
        b"Event: Newchannel\r\nAccountCode: \r\nChanVariable: A=1\r\nChanVariable: B=2"
    )
    assert headers == {"Event": "Newchannel", "AccountCode": "", "ChanVariable": ["A=1", "B=2"]}


def test_bytes_that_are_not_utf8_are_replaced_not_raised() -> None:
    (headers,) = FrameReader().feed(b"Event: Hangup\r\nCallerIDName: \xff\xfe\r\n\r\n")
    assert headers["CallerIDName"] == "\ufffd\ufffd"


def test_a_message_over_the_cap_is_refused_even_fed_a_byte_at_a_time() -> None:
    reader = FrameReader(max_message_bytes=1024)
    data = b"Event: X\r\nJunk: " + b"a" * 2000

    def bytewise() -> None:
        for byte in data:
            reader.feed(bytes([byte]))

    with pytest.raises(FrameTooLarge):
        bytewise()
    assert reader.buffered <= 1024 + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(MESSAGES, min_size=1, max_size=8), st.data())
def test_messages_survive_any_split_of_the_stream(
    messages: list[dict[str, str]], data: st.DataObject
) -> None:
    stream = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(encode_message(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    reader = FrameReader()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[start:end])
    assert got == messages
    assert reader.buffered == 0


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=4096), max_size=30))
def test_random_bytes_never_raise_anything_but_too_large_and_stay_bounded(
    chunks: list[bytes],
) -> None:
    reader = FrameReader(max_message_bytes=2048)
    try:
        for chunk in chunks:
            for headers in reader.feed(chunk):
                assert all(isinstance(v, str | list) for v in headers.values())
            assert reader.buffered <= 2048
    except FrameTooLarge:
        pass


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 216_000), st.integers(1, 9000))
def test_the_capture_cut_anywhere_and_fed_in_any_sizes_parses_the_same(cut: int, step: int) -> None:
    data = CAPTURE.read_bytes()
    whole = FrameReader().feed(data)
    reader = FrameReader()
    got = reader.feed(data[:cut])
    for start in range(cut, len(data), step):
        got += reader.feed(data[start : start + step])
    assert got == whole


def test_a_hundred_thousand_random_frames_keep_memory_bounded() -> None:
    """R-AMI-5's figure: 10^5 random or truncated frames, no exception, buffer capped."""
    rng = random.Random(5)
    reader = FrameReader()
    messages = captured_messages()
    for _ in range(100_000):
        frame = rng.choice(messages)
        kind = rng.random()
        if kind < 0.3:
            frame = frame[: rng.randrange(len(frame))]  # truncated
        elif kind < 0.4:
            frame = rng.randbytes(rng.randrange(200))  # noise
        try:
            reader.feed(frame)
        except FrameTooLarge:
            reader = FrameReader()
        assert reader.buffered <= MAX_MESSAGE_BYTES
