"""``callscribe transcribe``: recordings in, dialogues out, no daemon needed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callscribe.cli.arguments import prepare_output
from callscribe.cli.progress import Progress
from callscribe.config import RenderSettings, TranscriptionSettings
from callscribe.config.base import plain_message
from callscribe.config.loader import load_settings
from callscribe.config.redaction import RedactionPolicy, RedactionSettings
from callscribe.domain import Transcript
from callscribe.errors import ConfigError
from callscribe.native_stderr import native_stderr_to_log
from callscribe.redaction import redact, silence_spans
from callscribe.transcription.audio import (
    AudioLimits,
    CallAudio,
    declared_seconds,
    decode_file,
    parse_channel_map,
)
from callscribe.transcription.batch import transcribe_all
from callscribe.transcription.engine import Engine
from callscribe.transcription.render import FORMATS, Format, render

SUFFIX = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe recordings into a two-speaker dialogue",
        description=(
            "Transcribe call recordings on this machine. Stereo recordings are split into "
            "operator and client by channel (left = operator by default); mono recordings "
            "get one speaker. Reads WAV (PCM, u-law, A-law, GSM), MP3, OGG/Opus and FLAC."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recordings")
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="dialogue text (default), json, srt, vtt"
    )
    parser.add_argument(
        "--output", type=Path, metavar="DIR", help="write <name>.<format> per file into DIR"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files that already exist in --output"
    )
    parser.add_argument("--language", help="language code such as ru (default), or auto")
    parser.add_argument("--model", help="base (default), tiny.en, a model directory or hub name")
    parser.add_argument("--model-dir", type=Path, help="where bundled models are assembled")
    parser.add_argument(
        "--channels",
        metavar="LEFT,RIGHT",
        help="who is on each stereo channel (default operator,client)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for the model (default: all)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where to run the model")
    parser.add_argument(
        "--quiet",
        "--no-progress",
        action="store_true",
        help="no progress report (by default several files get a bar on a terminal, and a "
        "line every 30 s elsewhere)",
    )
    parser.add_argument(
        "--redact",
        action="store_true",
        help="hide card numbers, CVC codes, passport, SNILS, INN and phone numbers and e-mail "
        "addresses behind markers such as [номер карты]; JSON lists what was hidden and when",
    )
    parser.add_argument(
        "--redaction-config",
        type=Path,
        metavar="FILE",
        help="take the kinds, markers and patterns of [redaction] from this configuration file",
    )
    parser.add_argument(
        "--redacted-audio",
        type=Path,
        metavar="DIR",
        help="also write each recording with the hidden values silenced into DIR "
        "(implies --redact)",
    )
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace) -> TranscriptionSettings:
    overrides: dict[str, Any] = {
        "language": args.language,
        "model": args.model,
        "model_dir": args.model_dir,
        "cpu_threads": args.threads,
        "device": args.device,
    }
    if args.channels:
        overrides["channels"] = parse_channel_map(args.channels)
    try:
        return TranscriptionSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{_flag(error['loc'])}: {plain_message(error)}" for error in exc.errors()
        )
        raise ConfigError(problems) from exc


# Settings whose command-line flag is not their name with dashes.
_FLAGS = {"cpu_threads": "--threads"}


def _flag(location: tuple[int | str, ...]) -> str:
    if not location:
        return "options"
    name = str(location[0])
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    fmt: Format = args.format
    if args.output:
        prepare_output(args.output, [_target(args.output, p, fmt) for p in args.files], args.force)
    limits = AudioLimits(settings.max_duration_seconds, settings.max_file_bytes)

    def decode(path: Path) -> CallAudio:
        return decode_file(path, channels=settings.channels, limits=limits)

    redaction = _redaction_policy(args)
    if args.redacted_audio:
        args.redacted_audio.mkdir(parents=True, exist_ok=True)
    engine = Engine(settings)
    paths: list[Path] = args.files
    with native_stderr_to_log():
        failed = _transcribe(
            engine, paths, decode, fmt=fmt, args=args, redaction=redaction, limits=limits
        )
    if failed:
        print(f"callscribe: {failed} of {len(paths)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _transcribe(
    engine: Engine,
    paths: list[Path],
    decode: Callable[[Path], CallAudio],
    *,
    fmt: Format,
    args: argparse.Namespace,
    redaction: RedactionPolicy | None,
    limits: AudioLimits,
) -> int:
    declared = {path: declared_seconds(path) for path in paths}
    quiet = args.quiet or len(paths) == 1
    progress = Progress("transcribe", sum(declared.values()), len(paths), quiet=quiet)
    failed = 0
    for outcome in transcribe_all(engine, paths, decode):
        transcript = outcome.transcript
        progress.advance(transcript.duration if transcript else declared[outcome.item])
        if outcome.error is not None or transcript is None:
            failed += 1
            progress.write(f"callscribe: {outcome.error}", file=sys.stderr)
            continue
        if redaction is not None:
            transcript = _redacted(transcript, outcome.item, redaction, args, limits)
        text = render(transcript, fmt, RenderSettings(), source=str(outcome.item))
        if args.output:
            target = _target(args.output, outcome.item, fmt)
            target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        else:
            if len(paths) > 1:
                progress.write(f"==> {outcome.item} <==")
            progress.write(text.rstrip("\n"))
    progress.close()
    return failed


def _target(folder: Path, recording: Path, fmt: Format) -> Path:
    return folder / f"{recording.stem}.{SUFFIX[fmt]}"


def _redaction_policy(args: argparse.Namespace) -> RedactionPolicy | None:
    if not (args.redact or args.redacted_audio):
        if args.redaction_config:
            raise ConfigError("--redaction-config is used with --redact or --redacted-audio")
        return None
    chosen = load_settings(args.redaction_config).redaction if args.redaction_config else None
    defaults = chosen or RedactionSettings()
    return defaults.model_copy(update={"enabled": True}).settings_for(None)


def _redacted(
    transcript: Transcript,
    recording: Path,
    policy: RedactionPolicy,
    args: argparse.Namespace,
    limits: AudioLimits,
) -> Transcript:
    transcript = redact(transcript, policy)
    if args.redacted_audio:
        spans = [(r.start, r.end) for r in transcript.redactions or ()]
        target = args.redacted_audio / f"{recording.stem}.redacted{recording.suffix}"
        silence_spans(recording, spans, target, limits=limits)
    return transcript
