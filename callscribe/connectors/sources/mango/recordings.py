"""Downloading a call's recordings through ``queries/recording/post`` (VPBX API v1.9 §3.5.1).

The signed POST answers 302 with a temporary, single-use link on files.mango-office.ru;
the shared fetcher follows it with a plain GET (credentials never follow a redirect) under
the source's policy.  The link is a credential: it is never stored, and logs and errors
show its host only.  A refusal, however Mango phrases it (an HTTP status, or a JSON result
code in place of the file), goes through :mod:`.limits`.

A transferred call has one recording per leg.  All are downloaded and the longest (the
largest file: Mango's recordings of one account share a bitrate) is transcribed; every
recording id stays in the call's ``raw`` fields.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources.mango.limits import ApiGate, Refusal, refusal
from callscribe.connectors.sources.mango.signing import Credentials
from callscribe.connectors.spool import FetchedFile
from callscribe.connectors.ssrf import RefusedError
from callscribe.errors import FetchError

log = logging.getLogger(__name__)

RECORDING_PATH = "queries/recording/post"
_JSON_PEEK = 64 * 1024


@dataclass(frozen=True, slots=True)
class SignedDownload:
    """The fetcher's :class:`~callscribe.connectors.fetch.AuthHook`: turns its first GET
    into Mango's signed POST for one recording (same URL, so the same origin)."""

    credentials: Credentials
    recording_id: str

    def __call__(self, request: httpx.Request) -> httpx.Request:
        form = self.credentials.form({"recording_id": self.recording_id, "action": "download"})
        return httpx.Request("POST", request.url, headers=request.headers, data=form)


class RecordingDownloader:
    """Fetches recordings by id for one source, within its :class:`~.limits.ApiGate`."""

    def __init__(self, api_url: httpx.URL, credentials: Credentials, gate: ApiGate) -> None:
        self._url = str(api_url.join(RECORDING_PATH))
        self._api_host = api_url.host
        self._credentials = credentials
        self._gate = gate

    async def fetch_all(
        self,
        recording_ids: Sequence[str],
        fetcher: RecordingFetcher,
        policy: FetchPolicy,
        dest_dir: Path,
    ) -> FetchedFile:
        """Download every recording and keep the largest; nothing else is left behind."""
        policy = self._with_api_host(policy)
        fetched: list[FetchedFile] = []
        try:
            for recording_id in recording_ids:
                fetched.append(await self._fetch(recording_id, fetcher, policy, dest_dir))
        except BaseException:
            for item in fetched:
                item.path.unlink(missing_ok=True)
            raise
        kept = max(fetched, key=lambda item: item.size)
        for item in fetched:
            if item is not kept:
                item.path.unlink(missing_ok=True)
        if len(fetched) > 1:
            log.info(
                "source %s: %d recordings of one call (a transfer); transcribing the longest",
                self._gate.source,
                len(fetched),
            )
        return kept

    def _with_api_host(self, policy: FetchPolicy) -> FetchPolicy:
        # The API host is configuration, not webhook input; an empty list already allows
        # any public host and must stay that way.
        if not policy.hosts:
            return policy
        return dataclasses.replace(policy, hosts=frozenset(policy.hosts) | {self._api_host})

    async def _fetch(
        self, recording_id: str, fetcher: RecordingFetcher, policy: FetchPolicy, dest_dir: Path
    ) -> FetchedFile:
        self._gate.check()
        await self._gate.recordings.turn()
        self._gate.check()  # a refusal may have come in while this one waited its turn
        hook = SignedDownload(self._credentials, recording_id)
        try:
            fetched = await fetcher.fetch(
                self._url, policy, dest_dir, auth=hook, hide_redirects=True
            )
        except RefusedError:
            raise  # our own policy said no (a link to a host not allowed): not Mango's answer
        except FetchError as exc:
            if exc.status is None:
                raise  # network trouble or a timeout: the fetcher's retryable error
            raise self._refused(refusal(exc.status, None), recording_id) from None
        answer = _json_answer(fetched)
        if answer is None:
            return fetched
        fetched.path.unlink(missing_ok=True)
        raise self._refused(refusal(None, answer), recording_id)

    def _refused(self, refused: Refusal, recording_id: str) -> FetchError:
        where = f"recording {recording_id[:128]}"
        return self._gate.failure(refused, "Mango did not give the recording", where)


def _json_answer(fetched: FetchedFile) -> dict[str, Any] | None:
    """Mango's JSON answer where a recording was expected (an error result), else None.
    No recording format starts with "{": MP3 starts with ID3 or a frame sync, WAV with RIFF."""
    with fetched.path.open("rb") as file:
        head = file.read(_JSON_PEEK)
    if not head.lstrip().startswith(b"{"):
        return None
    try:
        body = json.loads(head)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
