"""The Mango Office source: signed notifications in, recordings and past calls fetched.

Mango posts every notification to the address set in its API connector with the event's
path appended (``/hooks/<name>/events/summary``, ``.../events/record/added``, ...).  Each
one is checked (:mod:`.signing`) before its JSON is read; the two that matter become parts
of their call, kept in the store until :meth:`MangoSource.join` makes the call of them:

- a summary of a call nobody answered: a missed call, at once;
- an answered summary: waits for ``record/added``, then ``more_recordings_seconds`` more
  for other legs' recordings; without any after ``recording_wait_seconds``, the call is
  delivered without a recording (logged);
- recordings whose summary never comes: after ``summary_wait_seconds``, a call without
  numbers or times (logged), rather than no call at all.

Other notifications (events/call, events/recording, ...) are answered 200 and dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ValidationError

from callscribe.connectors.base import PartsSoFar, WebhookRequest
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.sources.call_schema import describe
from callscribe.connectors.sources.jsonbody import parse_object
from callscribe.connectors.sources.mango.config import MangoConfig
from callscribe.connectors.sources.mango.events import (
    RECORDING_SCHEME,
    CallFacts,
    Clock,
    RecordAdded,
    Summary,
    call_event,
    recording_id,
)
from callscribe.connectors.sources.mango.limits import ApiGate
from callscribe.connectors.sources.mango.recordings import RecordingDownloader
from callscribe.connectors.sources.mango.signing import Credentials, read_form
from callscribe.connectors.sources.mango.stats import StatsReader
from callscribe.connectors.spool import FetchedFile
from callscribe.domain import Call, CallEvent, CallPart, RecordingRef
from callscribe.errors import FetchError, SourceError

log = logging.getLogger(__name__)

SUMMARY = "summary"
RECORD = "record/"  # + recording_id: one part per recording, so transfers keep them all
_JOINED = frozenset({"events/summary", "events/record/added"})
Model = TypeVar("Model", bound=BaseModel)


def _validate(model: type[Model], data: Mapping[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SourceError(describe(exc), status=400) from None


class MangoSource:
    """``type = "mango"``: a webhook, joining, fetching and backfill source."""

    def __init__(
        self, name: str, config: MangoConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.config = config
        self._now = clock
        self._clock = Clock(ZoneInfo(config.time_zone), config.timestamp_offset_hours)
        self._credentials = Credentials(config.api_key, config.api_salt)
        api_url = httpx.URL(str(config.api_url).rstrip("/") + "/")
        self._gate = ApiGate(
            name,
            recordings_per_second=config.recording_requests_per_second,
            pause_seconds=config.invalid_request_pause_seconds,
        )
        self._downloads = RecordingDownloader(api_url, self._credentials, self._gate)
        self._stats = StatsReader(
            name,
            api_url,
            self._credentials,
            self._gate,
            self._clock,
            fields=config.stats_fields,
            poll_seconds=config.stats_poll_seconds,
            timeout_seconds=config.stats_timeout_seconds,
        )

    async def handle(self, request: WebhookRequest) -> list[CallEvent | CallPart]:
        """Check the signature, then keep a summary or a recording as a part of its call."""
        fields = read_form(request)
        if fields is None:
            log.info("source %s: Mango's connection check (an empty request)", self.name)
            return []
        text = self._credentials.verify(fields)
        event = "/".join(part for part in request.path.split("/") if part)
        if event not in _JOINED:
            return []
        data = parse_object(text)
        kept = {"json": data, "received_at": self._now()}
        if event == "events/summary":
            summary = _validate(Summary, data)
            return [CallPart(self.name, summary.entry_id, SUMMARY, kept)]
        record = _validate(RecordAdded, data)
        return [CallPart(self.name, record.entry_id, RECORD + record.recording_id, kept)]

    def join(self, external_id: str, parts: PartsSoFar, waited: float) -> CallEvent | None:
        """The call, once its parts say enough or the waits run out (see the module)."""
        records = self._records(parts)
        ids = [record.recording_id for record, _ in records]
        raw: dict[str, Any] = {
            "entry_id": external_id,
            "records": [data for _, data in records],
            "recording_ids": ids,
        }
        kept = parts.get(SUMMARY)
        if kept is None:
            if waited < self.config.summary_wait_seconds:
                return None
            log.warning(
                "source %s: call %s: %d recording(s) but no summary after %.0f s; joined "
                "without the call's numbers and times",
                self.name,
                external_id,
                len(ids),
                waited,
            )
            refs = tuple(RecordingRef(RECORDING_SCHEME + rid) for rid in ids)
            return CallEvent(self.name, external_id, recordings=refs, raw=raw)
        summary = Summary.model_validate(kept["json"])
        raw["summary"] = dict(kept["json"])
        facts = CallFacts.of_summary(summary)
        since = self._now() - float(kept["received_at"])
        if summary.talked and not ids:
            if since < self.config.recording_wait_seconds:
                return None
            log.warning(
                "source %s: call %s was answered but no recording came in %.0f s; delivered "
                "without one (is call recording on for this employee?)",
                self.name,
                external_id,
                since,
            )
        elif summary.talked and since < self.config.more_recordings_seconds:
            return None
        return call_event(self.name, facts, ids, raw, self._clock)

    @staticmethod
    def _records(parts: PartsSoFar) -> list[tuple[RecordAdded, dict[str, Any]]]:
        """The call's recordings so far, oldest first."""
        found = [
            (RecordAdded.model_validate(part["json"]), dict(part["json"]))
            for name, part in parts.items()
            if name.startswith(RECORD)
        ]
        return sorted(found, key=lambda item: (item[0].timestamp or 0, item[0].recording_id))

    async def fetch_recording(
        self, call: Call, fetcher: RecordingFetcher, policy: FetchPolicy, dest_dir: Path
    ) -> FetchedFile:
        """Download the call's recordings through Mango's API; keep the longest."""
        try:
            ids = [recording_id(ref.location) for ref in call.event.recordings]
        except ValueError as exc:
            raise FetchError(str(exc), retryable=False) from None
        if not ids:
            raise FetchError("the call has no Mango recording to fetch", retryable=False)
        return await self._downloads.fetch_all(ids, fetcher, policy, dest_dir)

    def calls_on(self, day: date) -> AsyncIterator[CallEvent]:
        """Every finished call of ``day`` (in ``time_zone``) from Mango's statistics."""
        return self._stats.calls_on(day)

    def api_paused_seconds(self) -> float:
        return self._gate.paused_for()
