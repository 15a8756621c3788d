"""``callscribe calls [list]``: the stored calls matching the filters, newest first, as a
table for people or as JSON or CSV for programs (phone numbers masked unless
``--show-numbers``)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from callscribe.cli.common import (
    NO_ROUTE,
    clean,
    local_time,
    mask,
    minutes,
    open_store,
    print_table,
)
from callscribe.cli.filters import call_filter, described
from callscribe.domain import Call
from callscribe.store.base import CallFacts

LIST_FORMATS = ("table", "json", "csv")
COLUMNS = (
    "id", "received_at", "source", "external_id", "direction", "started_at", "client_number",
    "line_number", "operator_id", "operator_name", "state", "duration", "note",
)  # fmt: skip


def list_calls(args: argparse.Namespace) -> int:
    where = call_filter(args)
    with open_store(args) as (_, store):
        calls = store.find_calls(where, args.limit)
        facts = store.call_facts([call.id for call in calls])
    if args.format == "json":
        records = [_record(call, facts.get(call.id), args) for call in calls]
        print(json.dumps(records, ensure_ascii=False, indent=2, default=datetime.isoformat))
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_csv_row(_record(call, facts.get(call.id), args)) for call in calls)
    elif not calls:
        print("no calls" + (" matching the filters" if described(where) else " yet"))
    else:
        _table(calls, facts, args)
    return 0


def _table(calls: Sequence[Call], facts: Mapping[int, CallFacts], args: argparse.Namespace) -> None:
    headers = ("ID", "RECEIVED", "SOURCE", "EXTERNAL ID", "DIRECTION", "CLIENT", "STATE")
    rows = [
        (str(call.id), local_time(call.received_at), clean(call.event.source, args),
         clean(call.event.external_id, args, 24), call.event.direction.value,
         clean(call.event.client_number, args), call.state.value,
         minutes(facts[call.id].duration if call.id in facts else None),
         clean(_note(call, facts.get(call.id)), args, 60))
        for call in calls
    ]  # fmt: skip
    print_table((*headers, "DURATION", "NOTE"), rows)
    if any(row[-1] == NO_ROUTE for row in rows):
        print(f"\n{NO_ROUTE}: no [[routes]] entry took the call; see why with\n"
              "  callscribe routes test --call ID")  # fmt: skip


def _note(call: Call, facts: CallFacts | None) -> str:
    """The error of a failed call, or "no route" for one that went nowhere."""
    if call.error:
        return call.error
    return NO_ROUTE if facts is not None and facts.unrouted(call) else ""


def _record(call: Call, facts: CallFacts | None, args: argparse.Namespace) -> dict[str, Any]:
    event = call.event
    texts = ("external_id", "client_number", "line_number", "operator_id", "operator_name")
    return {
        "id": call.id,
        "received_at": call.received_at,
        "source": event.source,
        "direction": event.direction.value,
        "started_at": event.started_at,
        **{name: mask(getattr(event, name), args) for name in texts},
        "state": call.state.value,
        "duration": None if facts is None else facts.duration,
        "note": mask(_note(call, facts), args) or None,
    }


def _csv_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in record.items()
    }


def add_list_options(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    parser.add_argument(
        "--format",
        choices=LIST_FORMATS,
        default=argparse.SUPPRESS if inherited else "table",
        help="table (default), json or csv",
    )
