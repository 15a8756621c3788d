"""``callscribe calls export ID... --format txt|json|srt|vtt [--output DIR]``: stored
transcripts as files, to hand to someone (a lawyer, a supervisor without access), in the
formats ``callscribe transcribe`` writes (``transcription/render.py``).  Any kept version
with ``--version N`` (``calls show`` lists them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callscribe.cli.arguments import prepare_output
from callscribe.cli.common import NOT_FOUND, masked, open_store
from callscribe.transcription.render import Format, render

EXPORT_FORMATS: dict[str, Format] = {"txt": "text", "json": "json", "srt": "srt", "vtt": "vtt"}


def export_calls(args: argparse.Namespace) -> int:
    fmt = EXPORT_FORMATS[args.format]
    ids = list(dict.fromkeys(args.ids))
    targets = {call_id: _target(args, call_id) for call_id in ids} if args.output else {}
    if args.output:
        prepare_output(args.output, list(targets.values()), args.force)
    status = 0
    with open_store(args) as (settings, store):
        for call_id in ids:
            try:
                store.call(call_id)
            except KeyError:
                print(f"callscribe: no call with id {call_id}", file=sys.stderr)
                status = NOT_FOUND
                continue
            transcript = store.transcript(call_id, args.version)
            if transcript is None:
                which = f" version {args.version}" if args.version else ""
                print(f"callscribe: call {call_id} has no transcript{which}", file=sys.stderr)
                status = NOT_FOUND
                continue
            shown = transcript if args.show_numbers else masked(transcript)
            name = f"callscribe call {call_id}" + (
                f", version {args.version}" if args.version else ""
            )
            text = render(shown, fmt, settings.render, source=name)
            text = text if text.endswith("\n") else text + "\n"
            if args.output:
                targets[call_id].write_text(text, encoding="utf-8")
                print(f"call {call_id}: {targets[call_id]}")
            else:
                if len(ids) > 1:
                    print(f"==> call {call_id} <==")
                print(text, end="")
    return status


def _target(args: argparse.Namespace, call_id: int) -> Path:
    version = f"-v{args.version}" if args.version else ""
    folder: Path = args.output
    return folder / f"call-{call_id}{version}.{args.format}"
