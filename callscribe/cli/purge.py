"""``callscribe purge --older-than 30d [--audio-only]`` and ``callscribe purge --phone
NUMBER``: retention by hand, and erasure on a person's request (152-FZ; reliability.md
R-PII-1, R-PII-2, R-PII-5).

It counts first and asks before it deletes anything (``--yes`` to skip the question); the
deleting is ``callscribe.erasure``'s, the code the service's own retention runs, so it may
run while the service does.  Each deletion is written to the audit table with the call ids
and the reason, never a number or a name.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from callscribe.cli.common import print_table
from callscribe.config.loader import DEFAULT_CONFIG, load_settings
from callscribe.config.settings import Settings
from callscribe.erasure import Erasure, erase_calls, purge_recordings
from callscribe.errors import ConfigError
from callscribe.phones import keys_in, phone_key
from callscribe.refetch import source_files
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import NumberTraces
from callscribe.store.codec import utc_now
from callscribe.store.opening import open_command_store

NOT_DONE = 1
PAGE = 1000
_AGE = re.compile(r"^(\d+)\s*([dhw])$")
_UNITS = {"d": "days", "h": "hours", "w": "weeks"}
_KINDS = {
    "call": "calls (details, numbers, the PBX's own fields)",
    "recording": "recordings",
    "transcript": "transcripts",
    "transcript_version": "earlier transcript versions",
    "delivery": "deliveries (and what sinks saved)",
    "job": "queue jobs (and their errors)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "purge",
        help="delete old calls, or every trace of a phone number",
        description=(
            "--older-than AGE: delete the calls that finished more than AGE ago (30d, 12h, "
            "2w) with everything callscribe keeps about them, or only their recordings with "
            "--audio-only. --phone NUMBER: erase every call that number is in (the client, "
            "the line, any field the PBX sent), in any format it was written (+7…, 8…, "
            "digits only). Prints what it found and asks before deleting. Recordings in the "
            "PBX's own folders and what helpdesks received are not callscribe's: they are "
            "listed, not deleted."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=_age, metavar="AGE", help="e.g. 30d, 12h, 2w")
    which.add_argument("--phone", metavar="NUMBER", help="the number to erase")
    parser.add_argument(
        "--audio-only", action="store_true", help="with --older-than: only the recordings"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before deleting")
    parser.add_argument(
        "--reason",
        metavar="TEXT",
        help="why, for the audit record (e.g. a request number; never the phone number)",
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"configuration file ({DEFAULT_CONFIG})"
    )
    parser.set_defaults(handler=run)


def _age(text: str) -> timedelta:
    match = _AGE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30d, 12h or 2w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def run(args: argparse.Namespace) -> int:
    if args.audio_only and args.phone:
        raise ConfigError("--audio-only goes with --older-than (--phone erases everything)")
    if args.phone is not None and phone_key(args.phone) is None:
        raise ConfigError(f"--phone {args.phone!r} is not a phone number (10 to 15 digits)")
    if args.reason and keys_in(args.reason):
        raise ConfigError(
            "--reason holds a phone number; the audit record must hold no personal data"
        )
    settings = load_settings(args.config)
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    store = await open_command_store(settings)
    try:
        if args.phone is not None:
            return await _erase_number(store, settings, args)
        if args.audio_only:
            return await _purge_audio(store, settings, args)
        return await _purge_old(store, settings, args)
    finally:
        await store.aclose()


async def _erase_number(store: AsyncStoreApi, settings: Settings, args: argparse.Namespace) -> int:
    traces: NumberTraces = await store.number_traces(args.phone)
    calls = list(traces.call_ids)
    counts = await store.erasure_counts(calls)
    print(f"The number is in {len(calls)} call(s)" + (f": {_ids(calls)}" if calls else "."))
    _print_counts(counts, traces.call_parts)
    originals = await _original_files(store, settings, calls)
    if traces.mentioned_in:
        print(
            f"It is also said in the transcripts of other people's calls "
            f"{_ids(traces.mentioned_in)}: those are not erased (see them with "
            "'callscribe calls show ID')."
        )
    if not calls and not traces.call_parts:
        return 0
    if not _confirmed(args, "Erase all of this?"):
        return NOT_DONE
    reason = args.reason or "erasure on request (callscribe purge --phone)"
    erased = await erase_calls(store, settings, calls, reason)
    parts = await store.erase_call_parts(args.phone, reason)
    _report(erased, parts)
    _print_originals(originals)
    return 0 if erased.complete else NOT_DONE


async def _purge_old(store: AsyncStoreApi, settings: Settings, args: argparse.Namespace) -> int:
    cutoff = utc_now() - args.older_than
    calls: list[int] = []
    while page := await store.finished_calls(cutoff, PAGE, calls[-1] if calls else 0):
        calls += page
    counts = await store.erasure_counts(calls)
    print(f"{len(calls)} call(s) finished before {cutoff.astimezone():%Y-%m-%d %H:%M}.")
    _print_counts(counts, 0)
    if not calls or not _confirmed(args, "Erase them?"):
        return 0 if not calls else NOT_DONE
    erased = await erase_calls(
        store, settings, calls, args.reason or f"callscribe purge --older-than {_shown(args)}"
    )
    _report(erased, 0)
    return 0 if erased.complete else NOT_DONE


async def _purge_audio(store: AsyncStoreApi, settings: Settings, args: argparse.Namespace) -> int:
    cutoff = utc_now() - args.older_than
    found = await store.recordings_to_purge(sys.maxsize, cutoff)
    when = f"{cutoff.astimezone():%Y-%m-%d %H:%M}"
    print(
        f"{len(found)} recording(s) of calls finished before {when} (and of failed calls) "
        "are kept; their calls and transcripts stay."
    )
    if not found or not _confirmed(args, "Delete these recordings?"):
        return 0 if not found else NOT_DONE
    reason = args.reason or f"callscribe purge --older-than {_shown(args)} --audio-only"
    marked, outside, failed = await purge_recordings(
        store, settings.daemon.recordings_dir, cutoff, reason
    )
    print(f"deleted: {marked} recording(s)")
    if outside:
        print(f"{outside} of them are outside callscribe's folder: marked, the files left alone")
    if failed:
        print(f"{failed} could not be deleted (see the log); run the command again")
    return NOT_DONE if failed else 0


def _print_counts(counts: Mapping[str, int], parts: int) -> None:
    rows = [(str(counts[kind]), label) for kind, label in _KINDS.items() if counts.get(kind)]
    if parts:
        rows.append((str(parts), "notifications not joined into a call yet"))
    if rows:
        print_table(("ROWS", "WHAT"), rows, indent="  ")


async def _original_files(
    store: AsyncStoreApi, settings: Settings, calls: Sequence[int]
) -> list[str]:
    """Files the calls' sources point at that are still there and not callscribe's."""
    root = settings.daemon.recordings_dir.resolve()
    found = []
    for call_id in calls:
        for path in source_files((await store.call(call_id)).event):
            if path.is_file() and not path.resolve().is_relative_to(root):
                found.append(str(path))
    return found


def _print_originals(originals: Sequence[str]) -> None:
    if originals:
        print(
            "Still on this machine, where the PBX or an archive keeps them (not "
            "callscribe's to delete):"
        )
        for path in originals:
            print(f"  {path}")


def _report(erased: Erasure, parts: int) -> None:
    print(f"erased: {len(erased.calls)} call(s), {erased.files} recording file(s)", end="")
    print(f", {parts} notification(s)" if parts else "", end="")
    print(f", {erased.jsonl_lines} line(s) of JSONL sinks" if erased.jsonl_lines else "")
    if erased.busy:
        print(
            f"left for now: {_ids(sorted(erased.busy))}: the service is working on them; "
            "run the same command again in a minute"
        )
    if erased.undeletable:
        print(f"not erased: {_ids(erased.undeletable)}: their recording could not be deleted")
    for failure in erased.jsonl_failures:
        print(f"not rewritten: {failure} (run the command as the service's user)")
    if not erased.wal_emptied:
        print("the database's WAL could not be emptied yet (a reader held it); the next "
              "purge or the service's next retention run empties it")  # fmt: skip
    print("Written to the audit table (call ids and the reason only).")


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("nothing deleted: add --yes to delete without being asked")
    answer = input(f"{question} Type yes to go on: ")
    if answer.strip().lower() == "yes":
        return True
    print("nothing deleted")
    return False


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def _shown(args: argparse.Namespace) -> str:
    age: timedelta = args.older_than
    return f"{age.days}d" if not age.seconds else f"{age.total_seconds() / 3600:g}h"
