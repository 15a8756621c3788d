"""``callscribe retranscribe``: transcribe stored calls again with other ``[transcription]``
settings (the engine: ``callscribe/retranscribe.py``).

Progress goes to stderr (a bar with the audio done, × real time and the time left on a
terminal; a line every 30 s elsewhere), the summary to stdout.  Exit status: 0 done (calls
that cannot be redone are listed, not failures), 1 some failed, 2 a usage or setup
mistake, 130 interrupted (run the same command again to go on).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from callscribe.cli.common import add_common, clean
from callscribe.cli.filters import add_call_filters, call_filter
from callscribe.cli.progress import Progress, clock
from callscribe.config.base import plain_message
from callscribe.config.loader import load_settings
from callscribe.config.settings import Settings
from callscribe.config.transcription import TranscriptionSettings
from callscribe.connectors.registry import SINKS
from callscribe.domain import Call
from callscribe.errors import ConfigError
from callscribe.native_stderr import native_stderr_to_log
from callscribe.refetch import Recordings, scratch_folder
from callscribe.retranscribe import (
    Request,
    Retranscription,
    Tally,
    assess,
    audio_seconds,
    estimate,
    take_over_dead,
    this_worker,
)
from callscribe.store.base import ItemState, RetranscribeItem, RetranscribeRun, Store
from callscribe.store.opening import open_store
from callscribe.transcription.audio import parse_channel_map
from callscribe.transcription.engine import Engine

FAILED = 1
INTERRUPTED = 130


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retranscribe",
        help="transcribe stored calls again with other settings (model, language, beam…)",
        description=(
            "Transcribe again the stored calls matching the filters, with the "
            "configuration's [transcription] settings changed by --set. Each call keeps its "
            "earlier transcript as a version ('callscribe calls show ID' lists them). A "
            "recording retention deleted is fetched again from the call's source where it "
            "can be. Runs beside the service. Stopped (Ctrl+C) or killed, run the same "
            "command again: it goes on where it stopped."
        ),
    )
    add_common(parser)
    add_call_filters(parser, text=False)
    parser.add_argument(
        "--call", type=int, nargs="+", default=[], metavar="ID", help="these calls only"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [transcription] setting for this run, e.g. model=small, language=kk, "
        "beam_size=3 (repeat for several)",
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--redeliver",
        action="store_true",
        help="send the new transcripts to the sinks that got the old ones (a helpdesk gets "
        "a comment marked as corrected; Qolio's card is updated)",
    )
    again.add_argument(
        "--no-redeliver", dest="redeliver", action="store_false", help="keep them here (default)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be done and how long it would take"
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="redo the calls an earlier run of the same command already did",
    )
    parser.add_argument("--quiet", "--no-progress", action="store_true", help="no progress report")
    parser.set_defaults(handler=run)


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs as [transcription] values (read as TOML when they parse)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set beam_size=3")
        if key not in TranscriptionSettings.model_fields:
            known = ", ".join(TranscriptionSettings.model_fields)
            raise ConfigError(f"--set {key}: [transcription] has no setting {key!r} ({known})")
        values[key] = _value(key, text.strip())
    return values


def overridden(base: TranscriptionSettings, values: Mapping[str, Any]) -> TranscriptionSettings:
    try:
        return TranscriptionSettings.model_validate(base.model_dump() | dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"--set {'.'.join(str(p) for p in error['loc']) or 'value'}: {plain_message(error)}"
            for error in exc.errors()
        )
        raise ConfigError(problems) from None


def _value(key: str, text: str) -> Any:
    if key == "channels":
        return parse_channel_map(text)
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: ru, small, auto


def run(args: argparse.Namespace) -> int:
    loaded = load_settings(args.config)
    values = parse_overrides(args.overrides)
    transcription = overridden(loaded.transcription, values)
    settings = loaded.model_copy(update={"transcription": transcription})
    where = call_filter(args, tuple(dict.fromkeys(args.call)))
    request = Request(where, {k: _plain(v) for k, v in values.items()}, args.redeliver)
    store = open_store(settings)
    try:
        with (
            asyncio.Runner() as runner,
            scratch_folder(settings.daemon.state_dir, this_worker()) as scratch,
        ):
            command = _Command(
                store, settings, request, Recordings(settings, scratch, runner), args
            )
            calls = store.find_calls(where)
            missing = sorted(set(where.call_ids) - {call.id for call in calls})
            for call_id in missing:
                print(f"callscribe: no call with id {call_id}", file=sys.stderr)
            status = (
                _dry_run(command, calls) if args.dry_run else _run(command, [c.id for c in calls])
            )
            return status or (FAILED if missing else 0)
    finally:
        store.close()


def _plain(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True, slots=True)
class _Command:
    store: Store
    settings: Settings  # with the --set values in [transcription]
    request: Request
    recordings: Recordings
    args: argparse.Namespace


def _dry_run(command: _Command, calls: Sequence[Call]) -> int:
    store, settings, request, recordings, args = (
        command.store, command.settings, command.request, command.recordings, command.args
    )  # fmt: skip
    run_ = store.retranscribe_run(request.key)
    plan = assess(store, recordings, calls, None if args.again else run_)
    seconds = sum(audio_seconds(store, plan.to_do).values())
    work, speed, measured = estimate(store, settings.transcription.model, seconds)
    print(f"dry run, nothing changed: {len(calls)} call(s) match")
    print(
        f"would transcribe again: {len(plan.to_do)} call(s), {clock(seconds)} of audio"
        + (f" ({len(plan.to_fetch)} fetched again from their source)" if plan.to_fetch else "")
    )
    how = "measured by earlier runs" if measured else "assumed; the first run measures it"
    print(f"estimated time: about {clock(work)} at ×{speed:.1f} real time ({how})")
    if plan.done_earlier:
        print(f"already done by an earlier run of this command: {len(plan.done_earlier)}")
    _reasons("cannot be redone", plan.obstacles, args)
    return 0


def _run(command: _Command, call_ids: list[int]) -> int:
    store, settings, request, recordings, args = (
        command.store, command.settings, command.request, command.recordings, command.args
    )  # fmt: skip
    model = settings.transcription.model
    run_ = store.start_retranscribe(
        request.key, request.described(), model, call_ids, again=args.again
    )
    take_over_dead(store, run_.id, settings)
    items = store.retranscribe_items(run_.id)
    to_do = [i.call_id for i in items if i.state is not ItemState.DONE]
    durations = audio_seconds(store, to_do)
    revising = frozenset(name for name, c in settings.sinks.items() if SINKS[c.type].revisions)
    tally = Tally()
    if to_do:
        # Progress inside: it must write to the stderr native_stderr_to_log leaves Python.
        with native_stderr_to_log():
            progress = Progress(
                "retranscribe", sum(durations.values()), len(to_do), quiet=args.quiet
            )
            work = Retranscription(
                store, settings, run_, recordings, revising if request.redeliver else frozenset(),
                durations, progress.advance,
            )  # fmt: skip
            try:
                tally = work.go(Engine(settings.transcription))
            except KeyboardInterrupt:  # while the model loaded: nothing claimed yet
                tally.interrupted = True
            finally:
                progress.close()
    _summary(store, settings, run_, tally, args)
    if tally.interrupted:
        return INTERRUPTED
    failed = [i for i in store.retranscribe_items(run_.id) if i.state is ItemState.FAILED]
    return FAILED if failed else 0


def _summary(
    store: Store,
    settings: Settings,
    run_: RetranscribeRun,
    tally: Tally,
    args: argparse.Namespace,
) -> None:
    items = store.retranscribe_items(run_.id)
    by_state: dict[ItemState, list[RetranscribeItem]] = {state: [] for state in ItemState}
    for item in items:
        by_state[item.state].append(item)
    changed = ", ".join(f"{k}={v}" for k, v in run_.request.get("set", {}).items())
    print(
        f"retranscribe: {len(items)} call(s), model {run_.model}"
        + (f", {changed}" if changed else "")
    )
    earlier = len(by_state[ItemState.DONE]) - len(tally.done)
    print(
        f"done:    {len(tally.done)} now"
        + (f", {earlier} by an earlier run" if earlier > 0 else "")
    )
    _reasons("skipped", {i.call_id: i.reason or "" for i in by_state[ItemState.SKIPPED]}, args)
    _reasons("failed", {i.call_id: i.reason or "" for i in by_state[ItemState.FAILED]}, args)
    if tally.audio_seconds:
        speed = tally.audio_seconds / max(tally.seconds, 1e-6)
        audio, took = clock(tally.audio_seconds), clock(tally.seconds)
        print(f"audio:   {audio} in {took} (×{speed:.1f} real time)")
    left = len(by_state[ItemState.QUEUED]) + len(by_state[ItemState.RUNNING])
    if tally.interrupted or left:
        print(f"interrupted with {left} call(s) to go: run the same command again to go on")
    if run_.request.get("redeliver") and tally.done:
        _redelivery_note(settings)


def _reasons(title: str, reasons: Mapping[int, str], args: argparse.Namespace) -> None:
    grouped: dict[str, list[int]] = {}
    for call_id, reason in sorted(reasons.items()):
        grouped.setdefault(reason, []).append(call_id)
    print(f"{title + ':':<8} {len(reasons)}")
    for reason, ids in sorted(grouped.items(), key=lambda entry: -len(entry[1])):
        shown = ", ".join(str(i) for i in ids[:10]) + (
            f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        )
        print(f"  {len(ids):>5}  {clean(reason, args, 120)} (calls {shown})")


def _redelivery_note(settings: Settings) -> None:
    kept = sorted(name for name, c in settings.sinks.items() if not SINKS[c.type].revisions)
    print(
        "The new transcripts are queued for the sinks that had the old ones; the running "
        "service delivers them (a stopped one at its next start)."
    )
    if kept:
        print(
            f"Not sent again to {', '.join(kept)}: that platform is sent the recording, "
            "not callscribe's transcript."
        )
