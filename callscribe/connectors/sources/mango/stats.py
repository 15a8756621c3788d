"""Past calls from Mango's call statistics, for ``callscribe backfill`` (VPBX API v1.9 §3.4.1).

``stats/request`` (date_from, date_to, fields) answers a key; ``stats/result`` with that
key answers 204 until the report is ready, then the rows: one line per call, fields in
the order asked, separated by ";", no header and no quoting (Mango promises no value
holds ";", "," or a quote).  ``records`` lists the call's recording ids, "[id1,id2]" in
the documentation's words and "id1,id2" in its example: both are read.  Asking for
``entry_id`` makes each row the same call as its webhooks.

Several rows with one entry_id (legs of a transferred call) make one call: its earliest
start and answer, latest end, every recording, and the numbers of the first answered leg.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import Any

import httpx
from pydantic import ValidationError

from callscribe.connectors.sources.call_schema import Id, Text, describe
from callscribe.connectors.sources.mango.events import (
    CallFacts,
    Clock,
    Lenient,
    Party,
    Stamp,
    call_event,
    direction,
)
from callscribe.connectors.sources.mango.limits import ApiGate, Pacer, Refusal, refusal
from callscribe.connectors.sources.mango.signing import Credentials
from callscribe.domain import CallEvent
from callscribe.errors import FetchError, SourceError

REQUEST_PATH = "stats/request"
RESULT_PATH = "stats/result"
RATE_LIMITED_TRIES = 5


class StatsRow(Lenient):
    entry_id: Id
    records: Text = None
    start: Stamp = None
    answer: Stamp = None
    finish: Stamp = None
    from_extension: Text = None
    from_number: Text = None
    to_extension: Text = None
    to_number: Text = None
    line_number: Text = None

    @property
    def recording_ids(self) -> list[str]:
        text = (self.records or "").strip().removeprefix("[").removesuffix("]")
        return [part.strip() for part in text.split(",") if part.strip()]


def parse_rows(
    text: str, fields: Sequence[str]
) -> tuple[list[tuple[StatsRow, dict[str, str]]], list[str]]:
    """The rows of a statistics answer, each with its raw values, and a line per row that
    could not be read (numbered from 1)."""
    rows: list[tuple[StatsRow, dict[str, str]]] = []
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        values = line.rstrip("\r").split(";")
        if len(values) != len(fields):
            problems.append(f"line {number}: {len(values)} values for {len(fields)} fields")
            continue
        raw = dict(zip(fields, values, strict=True))
        try:
            row = StatsRow.model_validate({k: v.strip() or None for k, v in raw.items()})
        except ValidationError as exc:
            problems.append(f"line {number}: {describe(exc)}")
            continue
        rows.append((row, raw))
    return rows, problems


def _facts(rows: Sequence[StatsRow]) -> CallFacts:
    answered = [row for row in rows if row.answer is not None]
    primary = (answered or rows)[0]
    caller = Party(extension=primary.from_extension, number=primary.from_number)
    callee = Party(extension=primary.to_extension, number=primary.to_number)
    starts = [row.start for row in rows if row.start is not None]
    ends = [row.finish for row in rows if row.finish is not None]
    return CallFacts(
        entry_id=primary.entry_id,
        direction=direction(None, caller, callee),
        created=min(starts, default=None),
        answered=min((row.answer for row in answered if row.answer), default=None),
        ended=max(ends, default=None),
        caller=caller,
        callee=callee,
        line_number=primary.line_number,
    )


def _json(response: httpx.Response) -> Mapping[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class StatsReader:
    """Reads one day of a source's call history from Mango's statistics."""

    def __init__(
        self,
        source: str,
        api_url: httpx.URL,
        credentials: Credentials,
        gate: ApiGate,
        clock: Clock,
        *,
        fields: Sequence[str],
        poll_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self._source = source
        self._api_url = api_url
        self._credentials = credentials
        self._gate = gate
        self._clock = clock
        self._fields = tuple(fields)
        self._poll = poll_seconds
        self._timeout = timeout_seconds

    async def calls_on(self, day: date) -> AsyncIterator[CallEvent]:
        date_from, date_to = self._clock.day(day)
        request = {
            "date_from": str(date_from),
            "date_to": str(date_to),
            "fields": ", ".join(self._fields),
            "request_id": f"callscribe {day.isoformat()} {self._source}"[:128],
        }
        timeout = httpx.Timeout(30.0, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            answer = await self._post(client, REQUEST_PATH, request, day, self._gate.stats)
            key = (_json(answer) or {}).get("key")
            if not isinstance(key, str) or not key:  # a JSON error result in place of the key
                raise self._refused(refusal(answer.status_code, _json(answer)), REQUEST_PATH, day)
            text = await self._result(client, key, day)
        rows, problems = parse_rows(text, self._fields)
        for event in self._events(rows):
            yield event
        if problems:
            shown = "; ".join(problems[:3]) + (
                f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            )
            raise SourceError(
                f"Mango's statistics for {day}: {len(problems)} row(s) not read ({shown})"
            )

    def _events(self, rows: Sequence[tuple[StatsRow, dict[str, str]]]) -> list[CallEvent]:
        """One call per entry_id, in the order Mango listed them."""
        calls: dict[str, list[tuple[StatsRow, dict[str, str]]]] = {}
        for row, values in rows:
            calls.setdefault(row.entry_id, []).append((row, values))
        events = []
        for entry_id, legs in calls.items():
            ids = list(dict.fromkeys(rid for row, _ in legs for rid in row.recording_ids))
            raw: dict[str, Any] = {
                "entry_id": entry_id,
                "stats": [values for _, values in legs],
                "recording_ids": ids,
            }
            facts = _facts([row for row, _ in legs])
            events.append(call_event(self._source, facts, ids, raw, self._clock))
        return events

    async def _result(self, client: httpx.AsyncClient, key: str, day: date) -> str:
        """Ask for the prepared report until it is ready (204 meanwhile)."""
        deadline = time.monotonic() + self._timeout
        while True:
            await asyncio.sleep(self._poll)
            answer = await self._post(client, RESULT_PATH, {"key": key}, day, None)
            if answer.status_code == 200:
                body = _json(answer)
                if body is not None:  # a JSON error where the rows should be
                    raise self._refused(refusal(200, body), RESULT_PATH, day)
                return answer.text
            if time.monotonic() > deadline:
                raise FetchError(
                    f"Mango had not prepared the statistics for {day} after {self._timeout:g} s",
                    retryable=True,
                )

    async def _post(
        self,
        client: httpx.AsyncClient,
        path: str,
        payload: Mapping[str, Any],
        day: date,
        pacer: Pacer | None,
    ) -> httpx.Response:
        """One signed request; 200 or 204, else the refusal as ``FetchError``.  Rate
        limited answers are waited out and asked again a few times."""
        url = self._api_url.join(path)
        waits = 0
        while True:
            self._gate.check()
            if pacer is not None:
                await pacer.turn()
            try:
                answer = await client.post(url, data=self._credentials.form(payload))
            except httpx.HTTPError as exc:
                reason = f"Mango's {path} for {day}: {type(exc).__name__}: {exc}"
                raise FetchError(reason, retryable=True) from None
            if answer.status_code in (200, 204):
                return answer
            refused = refusal(answer.status_code, _json(answer))
            if refused.invalid or refused.wait is None or waits == RATE_LIMITED_TRIES:
                raise self._refused(refused, path, day)
            waits += 1
            await asyncio.sleep(self._gate.refused(refused) or 0.0)

    def _refused(self, refused: Refusal, path: str, day: date) -> FetchError:
        return self._gate.failure(refused, f"Mango's {path} for {day}")
