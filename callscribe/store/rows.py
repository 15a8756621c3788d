"""Rows back to values, for both stores: the tables are the same, only the drivers give
times differently (SQLite: the codec's ISO text; PostgreSQL: aware datetimes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

from callscribe.domain import Call, CallState, Delivery, DeliveryState, Recording
from callscribe.store.base import CallParts, Job, JobKind, JobState
from callscribe.store.codec import event_from_json, parse_time


class Row(Protocol):
    """A row by column name: ``sqlite3.Row`` or a psycopg ``dict_row``."""

    def __getitem__(self, key: str, /) -> Any: ...


def as_time(value: str | datetime) -> datetime:
    """A stored time as an aware datetime in UTC."""
    return value.astimezone(UTC) if isinstance(value, datetime) else parse_time(value)


def optional_time(value: str | datetime | None) -> datetime | None:
    return None if value is None else as_time(value)


def as_date(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def job_from_row(row: Row) -> Job:
    """Turn a ``jobs`` row into a :class:`Job`."""
    return Job(
        id=row["id"],
        kind=JobKind(row["kind"]),
        call_id=row["call_id"],
        sink=row["sink"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        stalls=row["stalls"],
        run_at=as_time(row["run_at"]),
        lease_until=optional_time(row["lease_until"]),
        worker=row["worker"],
        error=row["error"],
    )


def call_from_row(row: Row) -> Call:
    return Call(
        id=row["id"],
        event=event_from_json(row["event"]),
        state=CallState(row["state"]),
        received_at=as_time(row["received_at"]),
        error=row["error"],
    )


def recording_from_row(row: Row) -> Recording:
    return Recording(
        call_id=row["call_id"],
        path=row["path"],
        size=row["size"],
        sha256=row["sha256"],
        fetched_at=as_time(row["fetched_at"]),
    )


def delivery_from_row(row: Row) -> Delivery:
    return Delivery(
        call_id=row["call_id"],
        sink=row["sink"],
        state=DeliveryState(row["state"]),
        idempotency_key=row["idempotency_key"],
        attempts=row["attempts"],
        remote_id=row["remote_id"],
        error=row["error"],
        delivered_at=optional_time(row["delivered_at"]),
        progress=json.loads(row["progress"]),
    )


def parts_from_rows(rows: Sequence[Row]) -> list[CallParts]:
    """Rows of ``call_parts`` grouped by call, in the order the rows come."""
    grouped: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
    for row in rows:
        key = (row["source"], row["external_id"])
        received = as_time(row["received_at"])
        first, parts = grouped.setdefault(key, (received, {}))
        parts[row["part"]] = json.loads(row["data"])
        grouped[key] = (min(first, received), parts)
    return [
        CallParts(source, external_id, first, parts)
        for (source, external_id), (first, parts) in grouped.items()
    ]
