"""Errors cross process boundaries intact: the decoder processes raise them in the daemon."""

from __future__ import annotations

import pickle

import pytest

from callscribe.errors import (
    AudioError,
    CallscribeError,
    DecoderCrashError,
    FetchError,
    SinkError,
    SourceError,
)


@pytest.mark.parametrize(
    "error",
    [
        AudioError("call.wav", "is not a WAV file"),
        SourceError("bad signature", status=401),
        FetchError("not ready", retryable=True, retry_after=30.0),
        SinkError("refused", retryable=False),
        DecoderCrashError(),
    ],
)
def test_an_error_survives_pickling_with_its_message_and_fields(error: CallscribeError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes, as between processes)
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
    assert copy.retryable == error.retryable
