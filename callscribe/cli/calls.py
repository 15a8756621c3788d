"""``callscribe calls [show ID | retry ID…]``: what happened to the calls, for the admin.

The admin commands use the database next to the running daemon (WAL lets them in; each
store method is one short transaction).  Phone numbers are masked unless asked for, and
control characters escaped, so a forged PBX field cannot rewrite the admin's terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe.cli.arguments import positive_int
from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.config.settings import Settings
from callscribe.domain import Call, CallState, Recording, Transcript
from callscribe.logmask import escape_control, mask_phone
from callscribe.store import opening
from callscribe.store.base import CallFacts, JobKind, Store
from callscribe.transcription.render import FORMATS, render, to_json_dict

NOT_FOUND = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calls",
        help="list the calls callscribe received and what became of them",
        description=(
            "Without an ACTION, list the most recent calls with their state: received, "
            "fetched, transcribed, done, failed (fetching or transcribing gave up) or "
            "no_recording; a finished call that no route took shows 'no route'. Phone "
            "numbers are masked unless --show-numbers is given."
        ),
    )
    add_common(parser)
    parser.add_argument(
        "--state", choices=[state.value for state in CallState], help="only calls in this state"
    )
    parser.add_argument("--source", metavar="NAME", help="only calls from this source")
    parser.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="at most N (50)"
    )
    parser.set_defaults(handler=list_calls)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    show = actions.add_parser(
        "show",
        help="one call: its details, deliveries and transcript",
        description=(
            "Show a call's details, where its transcript was delivered, and the transcript "
            "itself. --format json prints all of it as one JSON document; srt and vtt print "
            "the transcript alone, ready to save as a subtitle file."
        ),
    )
    add_common(show, inherited=True)
    show.add_argument(
        "id", type=int, metavar="ID", help="call id (first column of 'callscribe calls')"
    )
    show.add_argument("--format", choices=FORMATS, default="text", help="text (default), json…")
    show.set_defaults(handler=show_call)

    retry = actions.add_parser(
        "retry",
        help="try failed calls again from the step that gave up",
        description=(
            "Queue failed calls again: fetching the recording, or transcribing it (fetched "
            "again first if it was already deleted), with a fresh set of retries."
        ),
    )
    add_common(retry, inherited=True)
    retry.add_argument("ids", type=int, nargs="+", metavar="ID", help="ids of failed calls")
    retry.add_argument("--refetch", action="store_true", help="fetch the recording again first")
    retry.set_defaults(handler=retry_calls)


def add_common(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """--config and --show-numbers, on a command and its actions; SUPPRESS on an action
    keeps a value given before the action's name (``calls --config x show 1``)."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS if inherited else DEFAULT_CONFIG,
        help=f"configuration file ({DEFAULT_CONFIG}); the database is found from it",
    )
    parser.add_argument(
        "--show-numbers",
        action="store_true",
        default=argparse.SUPPRESS if inherited else False,
        help="show phone numbers in full (masked by default)",
    )


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[tuple[Settings, Store]]:
    """The settings and the service's database, closed afterwards; never creates a
    SQLite file (``[store]``: opening.py)."""
    settings = load_settings(args.config)
    store = opening.open_store(settings)
    try:
        yield settings, store
    finally:
        store.close()


def clean(text: str | None, args: argparse.Namespace, width: int | None = None) -> str:
    """A value from outside, safe to print: masked, escaped, cut to ``width``."""
    if text is None or text == "":
        return "-"
    shown = escape_control(text if args.show_numbers else mask_phone(text))
    if width is not None and len(shown) > width:
        shown = shown[: width - 1] + "…"
    return shown


def local_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else "{}:{:02d}".format(*divmod(round(seconds), 60))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """Columns padded to their widest cell; the last one is not padded."""
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(indent + line.rstrip())


def list_calls(args: argparse.Namespace) -> int:
    state = None if args.state is None else CallState(args.state)
    with open_store(args) as (_, store):
        calls = store.calls(state, args.limit, args.source)
        facts = store.call_facts([call.id for call in calls])
    if not calls:
        print("no calls" + (" matching the filters" if state or args.source else " yet"))
        return 0
    headers = ("ID", "RECEIVED", "SOURCE", "EXTERNAL ID", "DIRECTION", "CLIENT", "STATE")
    rows = [
        (str(call.id), local_time(call.received_at), clean(call.event.source, args),
         clean(call.event.external_id, args, 24), call.event.direction.value,
         clean(call.event.client_number, args), call.state.value,
         minutes(facts[call.id].duration if call.id in facts else None),
         _note(call, facts.get(call.id), args))
        for call in calls
    ]  # fmt: skip
    print_table((*headers, "DURATION", "NOTE"), rows)
    if any(row[-1] == NO_ROUTE for row in rows):
        print(f"\n{NO_ROUTE}: no [[routes]] entry took the call; see why with\n"
              "  callscribe routes test --call ID")  # fmt: skip
    return 0


NO_ROUTE = "no route"


def _note(call: Call, facts: CallFacts | None, args: argparse.Namespace) -> str:
    """The error of a failed call, or "no route" for one that went nowhere."""
    if call.error:
        return clean(call.error, args, 60)
    return NO_ROUTE if facts is not None and facts.unrouted(call) else "-"


def show_call(args: argparse.Namespace) -> int:
    with open_store(args) as (settings, store):
        try:
            call = store.call(args.id)
        except KeyError:
            print(f"callscribe: no call with id {args.id}", file=sys.stderr)
            return NOT_FOUND
        recording = store.recording(call.id)
        transcript = store.transcript(call.id)
        deliveries = store.deliveries(call_id=call.id)
        facts = store.call_facts([call.id]).get(call.id, CallFacts(None, None))
    if transcript is not None and not args.show_numbers:
        transcript = _masked(transcript)
    if args.format in ("srt", "vtt"):
        if transcript is None:
            print(f"callscribe: call {call.id} has no transcript", file=sys.stderr)
            return NOT_FOUND
        print(render(transcript, args.format, settings.render), end="")
        return 0
    if args.format == "json":
        document = {
            "call": _call_json(call, recording, facts, args),
            "deliveries": [
                dataclasses.asdict(d) | {"error": _mask(d.error, args)} for d in deliveries
            ],
            "transcript": None if transcript is None else to_json_dict(transcript),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2, default=datetime.isoformat))
        return 0
    details = _details(call, recording, facts, args)
    print(f"Call {call.id}")
    width = max(len(label) for label in details)
    for label, value in details.items():
        print(f"  {label.ljust(width)}  {value}")
    print()
    if deliveries:
        print("Deliveries:")
        rows = [
            (d.sink, d.state.value, str(d.attempts), local_time(d.delivered_at),
             clean(d.error, args))  # the whole reason: the list shows its start
            for d in deliveries
        ]  # fmt: skip
        print_table(("SINK", "STATE", "ATTEMPTS", "DELIVERED", "ERROR"), rows, indent="  ")
    elif facts.unrouted(call):
        print(f"Deliveries: none, {NO_ROUTE} (see why: callscribe routes test --call {call.id})")
    else:
        print("Deliveries: none")
    print()
    if transcript is None:
        print(f"Transcript: {_no_transcript(call, recording is not None)}")
    else:
        print(f"Transcript ({minutes(transcript.duration)}, {transcript.language}):")
        print(render(transcript, "text", settings.render), end="")
    return 0


def retry_calls(args: argparse.Namespace) -> int:
    status = 0
    with open_store(args) as (_, store):
        for call_id in dict.fromkeys(args.ids):
            try:
                kind = store.revive_call(call_id, refetch=args.refetch)
            except KeyError:
                print(f"callscribe: no call with id {call_id}", file=sys.stderr)
                status = NOT_FOUND
                continue
            if kind is None:
                print(f"callscribe: call {call_id} has not failed: left alone", file=sys.stderr)
                status = NOT_FOUND
            else:
                step = "fetched" if kind is JobKind.FETCH else "transcribed"
                print(f"call {call_id}: queued to be {step} again")
    return status


def _masked(transcript: Transcript) -> Transcript:
    segments = tuple(dataclasses.replace(s, text=mask_phone(s.text)) for s in transcript.segments)
    return dataclasses.replace(transcript, segments=segments)


def _details(
    call: Call, recording: Recording | None, facts: CallFacts, args: argparse.Namespace
) -> dict[str, str]:
    event = call.event
    stored = "-"
    if recording is not None:
        stored = f"{clean(recording.path, args)} ({recording.size} bytes)"
        if facts.recording_purged_at is not None:
            stored += f", deleted by retention {local_time(facts.recording_purged_at)}"
    return {
        "received": local_time(call.received_at),
        "source": clean(event.source, args),
        "external id": clean(event.external_id, args),
        "direction": event.direction.value,
        "client": clean(event.client_number, args),
        "line": clean(event.line_number, args),
        "operator": clean(" ".join(filter(None, (event.operator_id, event.operator_name))), args),
        "started": local_time(event.started_at),
        "answered": local_time(event.answered_at),
        "ended": local_time(event.ended_at),
        "state": call.state.value,
        "error": clean(call.error, args),
        "recording": stored,
    }


def _call_json(
    call: Call, recording: Recording | None, facts: CallFacts, args: argparse.Namespace
) -> dict[str, Any]:
    """The call for ``--format json`` (datetimes left to the encoder's default).  The
    event's raw vendor fields and recording URLs (which may carry tokens) stay out."""
    event = call.event
    texts = ("external_id", "client_number", "line_number", "operator_id", "operator_name")
    return {
        "id": call.id,
        "state": call.state,
        "error": _mask(call.error, args),
        "received_at": call.received_at,
        "source": event.source,
        "direction": event.direction,
        **{name: _mask(getattr(event, name), args) for name in texts},
        **{name: getattr(event, name) for name in ("started_at", "answered_at", "ended_at")},
        "no_route": facts.unrouted(call),
        "recording": None
        if recording is None
        else dataclasses.asdict(recording) | {"purged_at": facts.recording_purged_at},
    }


def _mask(text: str | None, args: argparse.Namespace) -> str | None:
    """For JSON: numbers masked, control characters left to the JSON encoder."""
    return text if text is None or args.show_numbers else mask_phone(text)


def _no_transcript(call: Call, recorded: bool) -> str:
    if not call.event.recordings:
        return "none (the call has no recording)"
    if call.state is CallState.FAILED:
        return "none (the call failed before it was transcribed)"
    done = call.state is CallState.DONE and recorded
    return "deleted by the retention policy" if done else "not yet"
