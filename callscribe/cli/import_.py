"""``callscribe import PATH...``: an archive of recordings brought in as calls (the engine:
``callscribe/archive.py``).  The module is ``import_`` because ``import`` is Python's.

Progress goes to stderr, the summary to stdout.  Exit status: 0 done, 1 some recordings
could not be read or transcribed (the summary says which), 2 a usage or setup mistake,
130 interrupted (run the same command again: what was stored stays, nothing is doubled).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callscribe.archive import Candidate, Importer, Options, Report, find_groups
from callscribe.archive_metadata import Metadata, read_metadata
from callscribe.cli.common import add_common, clean
from callscribe.cli.progress import Progress, clock
from callscribe.config.loader import load_settings
from callscribe.config.problems import NAME
from callscribe.config.settings import Settings
from callscribe.connectors.sources.asterisk.config import AsteriskSourceConfig
from callscribe.errors import ConfigError
from callscribe.native_stderr import native_stderr_to_log
from callscribe.store.opening import open_store
from callscribe.transcription.engine import Engine

FAILED = 1
INTERRUPTED = 130
SHOWN = 20  # problems listed one by one; the rest counted


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="bring an archive of recordings in as calls (FreePBX, Asterisk, any folder)",
        description=(
            "Store recordings as calls, transcribe them here and send them to their routes' "
            "sinks like live calls (the running service delivers them). FreePBX recording "
            "names and Asterisk leg files are read as the directory and Asterisk sources "
            "read them, a <name>.json beside a recording as its sidecar; describe any other "
            "recordings in a --metadata file keyed by file name. Importing the same "
            "recordings again adds nothing. The recordings are copied into callscribe's "
            "state folder; the archive is left as it is."
        ),
    )
    add_common(parser)
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="files or folders")
    parser.add_argument(
        "--recursive", action="store_true", help="also the sub-folders (FreePBX: YYYY/MM/DD)"
    )
    parser.add_argument(
        "--source-name",
        default="import",
        metavar="NAME",
        help="the source the calls are stored under, for routes and filters (import)",
    )
    parser.add_argument(
        "--metadata",
        type=Path,
        metavar="FILE",
        help="a .csv or .jsonl file describing the recordings, keyed by file name",
    )
    parser.add_argument(
        "--timezone", metavar="ZONE", help="of the times in FreePBX names (this machine's)"
    )
    parser.add_argument(
        "--no-deliver",
        dest="deliver",
        action="store_false",
        help="store and transcribe only; send nothing to the sinks",
    )
    parser.add_argument("--quiet", "--no-progress", action="store_true", help="no progress report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise ConfigError(
            f"{missing[0]} does not exist"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    if not NAME.match(args.source_name):
        raise ConfigError(
            f"--source-name {args.source_name!r}: lower-case letters, digits, '-' and '_'"
        )
    settings = load_settings(args.config)
    options = _options(settings, args)
    groups, ignored = find_groups(
        args.paths, recursive=args.recursive, leg_suffixes=options.leg_suffixes
    )
    store = open_store(settings)
    try:
        importer = Importer(store, settings, options, Report(ignored=ignored))
        candidates = importer.new_calls(groups)
        importer.store_missed([c for c in candidates if not c.event.recordings])
        audible = [c for c in candidates if c.event.recordings]
        if audible:
            _transcribe(importer, audible, settings, args)
    finally:
        store.close()
    _summary(importer.report, options, args)
    if importer.report.interrupted:
        return INTERRUPTED
    report = importer.report
    return FAILED if report.unreadable or report.not_transcribed else 0


def _transcribe(
    importer: Importer, audible: list[Candidate], settings: Settings, args: argparse.Namespace
) -> None:
    # Progress inside: it must write to the stderr native_stderr_to_log leaves Python.
    with native_stderr_to_log():
        seconds = importer.seconds(audible)
        progress = Progress("import", seconds, len(audible), quiet=args.quiet)
        try:
            importer.run(Engine(settings.transcription), audible, progress.advance)
        except KeyboardInterrupt:  # while the model loaded
            importer.report.interrupted = True
        finally:
            progress.close()


def _options(settings: Settings, args: argparse.Namespace) -> Options:
    zone = None
    if args.timezone:
        try:
            zone = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"--timezone {args.timezone!r} is not a time zone such as Europe/Moscow"
            ) from None
    # The Asterisk source's reading of its spool, when the calls are stored under one.
    source = settings.sources.get(args.source_name)
    asterisk = source if isinstance(source, AsteriskSourceConfig) else None
    defaults = AsteriskSourceConfig.model_fields
    return Options(
        source=args.source_name,
        zone=zone,
        leg_suffixes=asterisk.leg_suffixes if asterisk else defaults["leg_suffixes"].default,
        raw_stereo=asterisk.raw_stereo if asterisk else defaults["raw_stereo"].default,
        deliver=args.deliver,
        metadata=read_metadata(args.metadata) if args.metadata else Metadata(),
    )


def _summary(report: Report, options: Options, args: argparse.Namespace) -> None:
    print(f"import into source {options.source!r}: {report.files} recording(s) found")
    print(f"new calls: {report.new} ({report.transcribed} transcribed, "
          f"{report.missed} without audio: missed calls)")  # fmt: skip
    print(f"already imported: {report.known}")
    if report.ignored:
        print(f"not recordings (left alone): {report.ignored} file(s)")
    _listed("stored, but not transcribed ('callscribe calls retry ID' tries again)",
            report.not_transcribed, args)  # fmt: skip
    _listed("could not be read (not stored; import them again once fixed)", report.unreadable, args)
    _listed("details left out (the calls are stored without them)", report.problems, args)
    metadata = options.metadata
    _listed("metadata file", metadata.problems, args)
    _listed("metadata rows naming no recording found", metadata.unused(), args)
    if report.audio_seconds:
        print(f"audio transcribed: {clock(report.audio_seconds)}")
    if report.interrupted:
        print("interrupted: run the same command again to go on (what is stored stays)")
    elif report.new and options.deliver:
        print(
            "The new calls go to their routes' sinks: the running service delivers them "
            "(a stopped one at its next start)."
        )


def _listed(title: str, lines: list[str], args: argparse.Namespace) -> None:
    if not lines:
        return
    print(f"{title}: {len(lines)}")
    for line in lines[:SHOWN]:
        print(f"  {clean(line, args, 200)}")
    if len(lines) > SHOWN:
        print(f"  and {len(lines) - SHOWN} more")
