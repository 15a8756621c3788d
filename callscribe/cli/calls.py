"""``callscribe calls [list | show ID | export ID… | retry ID…]``: what happened to the
calls, for the admin (helpers shared with the other admin commands: ``common.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe.cli.arguments import positive_int
from callscribe.cli.calls_export import EXPORT_FORMATS, export_calls
from callscribe.cli.calls_list import add_list_options, list_calls
from callscribe.cli.common import (
    NO_ROUTE,
    NOT_FOUND,
    add_common,
    clean,
    local_time,
    mask,
    masked,
    minutes,
    open_store,
    print_table,
)
from callscribe.cli.filters import add_call_filters
from callscribe.domain import Call, CallState, Delivery, Recording
from callscribe.store.base import CallFacts, JobKind, TranscriptVersion
from callscribe.transcription.render import FORMATS, render, to_json_dict


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calls",
        help="list the calls callscribe received and what became of them",
        description=(
            "Without an ACTION (or with 'list'), list the most recent calls with their "
            "state: received, fetched, transcribed, done, failed (fetching or transcribing "
            "gave up) or no_recording; a finished call that no route took shows 'no route'. "
            "Phone numbers are masked unless --show-numbers is given."
        ),
    )
    _add_list_arguments(parser)
    parser.set_defaults(handler=list_calls)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="the calls matching filters, as a table, JSON or CSV",
        description=(
            "List the calls matching every filter given, the latest first: by the call's "
            "time (--since, --until), source, operator, client or line number (however it "
            "was written), state, or words said in the transcript (--text)."
        ),
    )
    _add_list_arguments(listing, inherited=True)
    listing.set_defaults(handler=list_calls)

    show = actions.add_parser(
        "show",
        help="one call: its details, deliveries, transcript versions and transcript",
        description=(
            "Show a call's details, where its transcript was delivered, the versions of its "
            "transcript (each made by 'callscribe retranscribe' with its settings) and the "
            "transcript itself. --format json prints all of it as one JSON document; srt "
            "and vtt print the transcript alone, ready to save as a subtitle file."
        ),
    )
    add_common(show, inherited=True)
    show.add_argument(
        "id", type=int, metavar="ID", help="call id (first column of 'callscribe calls')"
    )
    show.add_argument("--format", choices=FORMATS, default="text", help="text (default), json…")
    show.set_defaults(handler=show_call)

    export = actions.add_parser(
        "export",
        help="write calls' transcripts to files: txt, json, srt or vtt",
        description=(
            "Write the transcripts of these calls to stdout, or one file per call into "
            "--output DIR (call-ID.txt, call-ID-vN.txt for --version N). Phone numbers in "
            "the text are masked unless --show-numbers is given."
        ),
    )
    add_common(export, inherited=True)
    export.add_argument("ids", type=int, nargs="+", metavar="ID", help="call ids")
    export.add_argument(
        "--format",
        choices=tuple(EXPORT_FORMATS),
        default="txt",
        help="txt (default), json, srt, vtt",
    )
    export.add_argument(
        "--version", type=positive_int, metavar="N", help="this version of the transcript"
    )
    export.add_argument("--output", type=Path, metavar="DIR", help="one file per call here")
    export.add_argument("--force", action="store_true", help="overwrite files in --output")
    export.set_defaults(handler=export_calls)

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


def _add_list_arguments(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    add_common(parser, inherited=inherited)
    add_call_filters(parser, inherited=inherited)
    add_list_options(parser, inherited=inherited)
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=argparse.SUPPRESS if inherited else 50,
        metavar="N",
        help="at most N (50)",
    )


def show_call(args: argparse.Namespace) -> int:
    with open_store(args) as (settings, store):
        try:
            call = store.call(args.id)
        except KeyError:
            print(f"callscribe: no call with id {args.id}", file=sys.stderr)
            return NOT_FOUND
        recording = store.recording(call.id)
        transcript = store.transcript(call.id)
        versions = store.transcript_versions(call.id)
        deliveries = store.deliveries(call_id=call.id)
        facts = store.call_facts([call.id]).get(call.id, CallFacts(None, None))
    if transcript is not None and not args.show_numbers:
        transcript = masked(transcript)
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
                dataclasses.asdict(d) | {"error": mask(d.error, args)} for d in deliveries
            ],
            "versions": [_version_json(v) for v in versions],
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
    _print_deliveries(call, deliveries, facts, args)
    print()
    if len(versions) > 1:
        print("Transcript versions:")
        print_table(("VERSION", "MADE", "MODEL", "LANGUAGE", "SETTINGS"), _version_rows(versions),
                    indent="  ")  # fmt: skip
        print()
    if transcript is None:
        print(f"Transcript: {_no_transcript(call, recording is not None)}")
    else:
        which = f", version {versions[-1].version}" if len(versions) > 1 else ""
        print(f"Transcript ({minutes(transcript.duration)}, {transcript.language}{which}):")
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


def _print_deliveries(
    call: Call, deliveries: list[Delivery], facts: CallFacts, args: argparse.Namespace
) -> None:
    if not deliveries:
        if facts.unrouted(call):
            print(
                f"Deliveries: none, {NO_ROUTE} (see why: callscribe routes test --call {call.id})"
            )
        else:
            print("Deliveries: none")
        return
    print("Deliveries:")
    versions = any(d.version != 1 for d in deliveries)  # a column only once there are several
    rows: list[tuple[str, ...]] = [
        (d.sink, *((str(d.version),) if versions else ()), d.state.value, str(d.attempts),
         local_time(d.delivered_at), clean(d.error, args))  # the whole reason: list shows its start
        for d in deliveries
    ]  # fmt: skip
    headers = ("SINK", *(("VERSION",) if versions else ()), "STATE", "ATTEMPTS", "DELIVERED")
    print_table((*headers, "ERROR"), rows, indent="  ")


def _version_rows(versions: list[TranscriptVersion]) -> list[tuple[str, ...]]:
    """One row per version; SETTINGS shows the beam and whatever differs between them."""
    keys = {"beam_size"} | {
        key
        for v in versions
        for key, value in v.settings.items()
        if any(other.settings.get(key) != value for other in versions)
    }
    keys -= {"model", "language"}
    rows: list[tuple[str, ...]] = []
    for v in versions:
        settings = ", ".join(f"{k}={v.settings[k]}" for k in sorted(keys) if k in v.settings)
        made = local_time(v.made_at) if v.made_at else "(before versions were kept)"
        current = " (current)" if v.replaced_at is None else ""
        rows.append((f"{v.version}{current}", made, v.transcript.model, v.transcript.language,
                     settings or "-"))  # fmt: skip
    return rows


def _version_json(version: TranscriptVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "made_at": version.made_at,
        "replaced_at": version.replaced_at,
        "settings": dict(version.settings),
        "model": version.transcript.model,
        "language": version.transcript.language,
        "duration": version.transcript.duration,
    }


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
        "error": mask(call.error, args),
        "received_at": call.received_at,
        "source": event.source,
        "direction": event.direction,
        **{name: mask(getattr(event, name), args) for name in texts},
        **{name: getattr(event, name) for name in ("started_at", "answered_at", "ended_at")},
        "no_route": facts.unrouted(call),
        "recording": None
        if recording is None
        else dataclasses.asdict(recording) | {"purged_at": facts.recording_purged_at},
    }


def _no_transcript(call: Call, recorded: bool) -> str:
    if not call.event.recordings:
        return "none (the call has no recording)"
    if call.state is CallState.FAILED:
        return "none (the call failed before it was transcribed)"
    done = call.state is CallState.DONE and recorded
    return "deleted by the retention policy" if done else "not yet"
