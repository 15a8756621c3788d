"""Calltouch's calls-diary API: one day of past calls for ``callscribe backfill``.

``GET {api_url}/calls-service/RestAPI/{site_id}/calls-diary/calls`` with ``clientApiId``,
``dateFrom`` = ``dateTo`` (one day, dd/mm/yyyy: the API wants them equal by default),
``page`` from 1 and ``limit`` up to 1000; the answer is ``{page, pageTotal,
recordsTotal, records}``.  Calltouch publishes no rate limit but answers 429 when pressed,
which ``vendor_api`` waits out.  The key is in the query string, so no message built here
or there carries the URL's query.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from callscribe.connectors.vendor_api import VendorApi
from callscribe.domain import CallEvent
from callscribe.errors import SourceError

if TYPE_CHECKING:
    from callscribe.connectors.sources.calltouch import CalltouchSourceConfig

log = logging.getLogger(__name__)

Build = Callable[[Mapping[str, Any]], CallEvent | None]


@dataclass(frozen=True, slots=True)
class _Page:
    records: list[dict[str, Any]]
    pages: int


class CalltouchDiary:
    def __init__(self, source: str, config: CalltouchSourceConfig) -> None:
        self._source = source
        self._config = config
        self._api = VendorApi(f"source {source}: Calltouch calls-diary", config)

    async def calls_on(self, day: date, build: Build) -> AsyncIterator[CallEvent]:
        """Every call of ``day``; ``build`` makes the event from a calls-diary record."""
        page = 1
        while True:
            found = await self._page(day, page)
            for record in found.records:
                event = build(record)
                if event is None:
                    log.warning(
                        "source %s: a calls-diary record of %s has no usable callId; skipped",
                        self._source, day,
                    )  # fmt: skip
                    continue
                yield event
            if not found.records or page >= found.pages:
                return
            page += 1

    async def _page(self, day: date, page: int) -> _Page:
        config = self._config
        shown = day.strftime("%d/%m/%Y")
        request = httpx.Request(
            "GET",
            f"{config.api_url}/calls-service/RestAPI/{config.site_id}/calls-diary/calls",
            params={
                "clientApiId": config.client_api_id.reveal(),
                "dateFrom": shown,
                "dateTo": shown,
                "page": page,
                "limit": config.api_page_size,
            },
        )
        return await self._api.call(request, _read_page)


def _read_page(response: httpx.Response) -> _Page:
    status = response.status_code
    if status != 200:
        detail = " ".join(response.text.split())[:200]
        hint = " (check site_id and client_api_id)" if status in (401, 403, 404) else ""
        raise SourceError(f"Calltouch answered HTTP {status}{hint}: {detail}")
    try:
        document = response.json()
    except ValueError:
        raise SourceError("Calltouch answered with something that is not JSON") from None
    records = document.get("records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceError("Calltouch's answer has no records list")
    pages = document.get("pageTotal")
    return _Page(records, pages if isinstance(pages, int) and not isinstance(pages, bool) else 1)
