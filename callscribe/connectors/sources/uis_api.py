"""UIS Data API (JSON-RPC 2.0, ``get.calls_report``): one day of past calls, as the
notifications would have reported them, for ``callscribe backfill``.

The report's ``id`` is the notifications' ``call_session_id``, so a call seen both ways
is one call.  Its recording is ``full_record_file_link`` (all talks in one file) or, when
that is empty, the first of ``call_records`` under ``media_url``.  An answered call that
ended less than ``recording_wait_seconds`` ago without a recording yet is left for the
notifications or a later backfill rather than stored as a call without one.  UIS limits
the API by "points" per period; an error naming a limit is waited out (``vendor_api``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import httpx

from callscribe.config.base import Secret
from callscribe.connectors.sources import uis_fields as f
from callscribe.connectors.sources import values as v
from callscribe.connectors.vendor_api import TryLater, VendorApi
from callscribe.domain import CallEvent
from callscribe.errors import SourceError

if TYPE_CHECKING:
    from callscribe.connectors.sources.uis import UisSourceConfig

log = logging.getLogger(__name__)

FIELDS = (
    "id",
    "start_time",
    "finish_time",
    "finish_reason",
    "direction",
    "is_lost",
    "contact_phone_number",
    "virtual_phone_number",
    "talk_duration",
    "total_duration",
    "communication_id",
    "call_records",
    "full_record_file_link",
    "last_talked_employee_id",
)
# -32029 "limit_exceeded" as CoMagic's Data API documentation names it; the wording of
# the message is matched too, since the numeric code could not be confirmed.
_LIMIT_CODES = frozenset({-32029})
Build = Callable[[str, Mapping[str, Any]], CallEvent]


@dataclasses.dataclass(frozen=True, slots=True)
class _Page:
    calls: list[dict[str, Any]]
    total: int | None  # metadata.total_items, when the answer has it


class UisDataApi:
    def __init__(self, source: str, config: UisSourceConfig, zone: tzinfo) -> None:
        self._source = source
        self._config = config
        self._zone = zone
        self._api = VendorApi(f"source {source}: UIS Data API", config)
        self._ids = itertools.count(1)

    async def calls_on(self, day: date, build: Build) -> AsyncIterator[CallEvent]:
        """Every call of ``day``, page by page; ``build`` makes the event from fields named
        as in the notifications (the report's own fields stay in ``raw``)."""
        token = self._config.api_token
        if token is None:
            raise SourceError(f"source {self._source}: set api_token to read past calls")
        offset = 0
        while True:
            page = await self._page(day, offset, token)
            for call in page.calls:
                event = self._event(call, build)
                if event is not None:
                    yield event
            offset += len(page.calls)
            if page.total is None:
                if len(page.calls) < self._config.api_page_size:
                    return
            elif not page.calls or offset >= page.total:
                return

    async def _page(self, day: date, offset: int, token: Secret) -> _Page:
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "get.calls_report",
            "params": {
                "access_token": token.reveal(),
                "date_from": f"{day.isoformat()} 00:00:00",
                "date_till": f"{day.isoformat()} 23:59:59",
                "offset": offset,
                "limit": self._config.api_page_size,
                "fields": list(FIELDS),
            },
        }
        request = httpx.Request(
            "POST",
            self._config.api_url,
            content=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        return await self._api.call(request, _read_page)

    def _event(self, call: Mapping[str, Any], build: Build) -> CallEvent | None:
        external_id = v.text(call.get("id"))
        if external_id is None:
            log.warning("source %s: a call in the Data API report has no id; skipped", self._source)
            return None
        links = f.links(call.get("full_record_file_link"))
        records = f.links(call.get("call_records"))
        if not links and records:
            session = v.text(call.get("communication_id")) or external_id
            links = (f"{self._config.media_url}/{session}/{records[0]}/",)
        fields = {
            "call_session_id": external_id,
            "start_time": call.get("start_time"),
            "finish_time": call.get("finish_time"),
            "direction": call.get("direction"),
            "contact_phone_number": call.get("contact_phone_number"),
            "virtual_phone_number": call.get("virtual_phone_number"),
            "talk_time_duration": call.get("talk_duration"),
            "employee_id": call.get("last_talked_employee_id"),
            "record_file_links": list(links),
        }
        lost = bool(v.flag(call.get("is_lost")))
        if lost:
            fields["record_file_links"] = []
        elif not links and self._too_fresh(v.moment(call.get("finish_time"), self._zone)):
            log.info(
                "source %s: call %s ended moments ago and has no recording yet; left for "
                "its notifications or a later backfill",
                self._source, external_id,
            )  # fmt: skip
            return None
        return dataclasses.replace(build(external_id, fields), raw=dict(call))

    def _too_fresh(self, ended: datetime | None) -> bool:
        wait = timedelta(seconds=self._config.recording_wait_seconds)
        return ended is None or ended > datetime.now(UTC) - wait


def _read_page(response: httpx.Response) -> _Page:
    if response.status_code != 200:
        detail = " ".join(response.text.split())[:200]
        raise SourceError(f"UIS Data API answered HTTP {response.status_code}: {detail}")
    try:
        document = response.json()
    except ValueError:
        raise SourceError("UIS Data API answered with something that is not JSON") from None
    if not isinstance(document, dict):
        raise SourceError("UIS Data API answered with JSON that is not an object")
    error = document.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = " ".join(str(error.get("message", "")).split())[:300]
        data = error.get("data")
        mnemonic = str(data.get("mnemonic", "")) if isinstance(data, dict) else ""
        if code in _LIMIT_CODES or "limit" in mnemonic or "limit" in message.lower():
            raise TryLater(f"UIS says a limit is reached: {message} (code {code})")
        raise SourceError(f"UIS Data API refused get.calls_report: {message} (code {code})")
    result = document.get("result")
    data = result.get("data") if isinstance(result, dict) else None
    metadata = result.get("metadata") if isinstance(result, dict) else None
    total = metadata.get("total_items") if isinstance(metadata, dict) else None
    if not isinstance(data, list) or not all(isinstance(call, dict) for call in data):
        raise SourceError("UIS Data API answer has no result.data list of calls")
    return _Page(data, total if isinstance(total, int) and not isinstance(total, bool) else None)
