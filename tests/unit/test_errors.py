"""Errors cross process boundaries intact: the decoder processes raise them in the daemon."""

from __future__ import annotations

import pickle

import httpx
import pytest

from callscribe.connectors.http_status import check_response, transport_error
from callscribe.errors import (
    WHERE_CHARS,
    AudioError,
    CallscribeError,
    DecoderCrashError,
    FetchError,
    SinkError,
    SourceError,
    located,
    shortened,
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


@pytest.mark.parametrize(
    ("where", "shown"),
    [
        ("/srv/rec/call.wav", "/srv/rec/call.wav"),  # short: as it is
        (
            "/var/spool/asterisk/monitor/2026/11/20/out-4951234567-101-20261120-101500.wav",
            "…/monitor/2026/11/20/out-4951234567-101-20261120-101500.wav",
        ),
        (
            "https://pbx.example.com/monitor/2026/11/20/out-4951234567-101-20261120.wav",
            "https://pbx.example.com…/20/out-4951234567-101-20261120.wav",
        ),
    ],
)
def test_a_place_is_shortened_keeping_its_end_and_host(where: str, shown: str) -> None:
    assert shortened(where) == shown
    assert len(shown) <= WHERE_CHARS + 1


def test_a_reason_comes_before_the_place() -> None:
    error = AudioError("/srv/rec/call.wav", "is empty (0 bytes)")
    assert str(error) == "recording is empty (0 bytes) — /srv/rec/call.wav"
    assert located("HTTP 404", "https://a.example/x") == "HTTP 404 — https://a.example/x"


def test_an_http_refusal_says_the_answer_then_the_request_without_its_query() -> None:
    request = httpx.Request("POST", "https://api.example.com/v1/calls?api_token=SECRET")
    answer = httpx.Response(422, json={"error": "no such queue"}, request=request)
    with pytest.raises(SinkError) as refused:
        check_response(answer, "Okdesk")
    assert str(refused.value) == (
        'Okdesk answered HTTP 422: {"error":"no such queue"} — POST https://api.example.com/v1/calls'
    )
    assert not refused.value.retryable
    down = transport_error(str(request.url), httpx.ConnectError("Connection refused"))
    assert str(down) == (
        "cannot reach the API (ConnectError: Connection refused) — https://api.example.com/v1/calls"
    )
    assert down.retryable
