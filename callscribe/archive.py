"""``callscribe import``: an archive of recordings stored as calls, transcribed in the
command's own process with the engine's batching, then routed like live calls.

What a recording is about comes from what the directory source reads — FreePBX's names
(``freepbx_names``) and a sidecar ``<name>.json`` (``sidecar``) — and, for any other
naming, from a metadata file keyed by file name (``archive_metadata``), each later one
winning field by field.  An Asterisk spool's leg files (``…-rx.wav`` / ``…-tx.wav``) make
one stereo call, and headerless ``.sln``/``.raw`` files get a header, as the Asterisk
source reads them (``asterisk/files.SpoolReader``); a recording with nothing but a header
is a missed call.

Idempotent: a call's identity is its metadata ``id`` when one is given, else the SHA-256
of its files' contents, so importing the same tree twice — or a copy of it elsewhere —
adds nothing.  The recording is copied (hardlinked where it can be) into callscribe's
recordings folder, where the service can read it and retention deletes it like any other;
the archive is never touched, and ``raw.imported`` remembers its files, so
``retranscribe`` can read them again once the copy is gone.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from callscribe.archive_metadata import Metadata, Row
from callscribe.config.routes import sinks_at_ingest, sinks_for
from callscribe.config.settings import Settings
from callscribe.connectors.sources.asterisk.files import SpoolReader
from callscribe.connectors.sources.asterisk.plan import SLIN_RATES, RecordingPlan, from_files
from callscribe.connectors.sources.asterisk.recovery import HEADER_ONLY_BYTES
from callscribe.connectors.sources.freepbx_names import read_name
from callscribe.connectors.sources.sidecar import read_sidecar, sidecar_path
from callscribe.connectors.spool import FetchedFile
from callscribe.daemon.pipeline import channels_of
from callscribe.domain import CallEvent, Direction, RecordingRef, Speaker
from callscribe.errors import CallscribeError
from callscribe.refetch import IMPORTED
from callscribe.store.base import RecordingFile, Store
from callscribe.transcription.audio import AudioLimits, CallAudio, declared_seconds, decode_file
from callscribe.transcription.batch import Outcome, transcribe_all
from callscribe.transcription.engine import Engine

DESCRIPTIONS = (".json", ".csv", ".jsonl")
AUDIO_SUFFIXES = frozenset(
    {".wav", ".mp3", ".ogg", ".opus", ".flac"} | {f".{s}" for s in SLIN_RATES}
)


@dataclass(frozen=True, slots=True)
class Group:
    """The files of one recording: one file, or an Asterisk call's legs (and mix)."""

    root: Path  # the folder given to import it was found under (or the file's own)
    files: tuple[Path, ...]

    @property
    def main(self) -> Path:
        return self.files[0]

    @property
    def relative(self) -> str:
        return self.main.relative_to(self.root).as_posix()


@dataclass(frozen=True, slots=True)
class Options:
    source: str  # the source name the calls are stored under
    zone: tzinfo | None  # of the times in FreePBX names; None: this machine's
    leg_suffixes: tuple[str, str]
    raw_stereo: bool
    deliver: bool
    metadata: Metadata = field(default_factory=Metadata)


@dataclass
class Report:
    files: int = 0  # recordings found (groups)
    ignored: int = 0  # files that are not recordings callscribe reads
    known: int = 0  # imported before
    transcribed: int = 0
    missed: int = 0  # stored without audio (a header only)
    not_transcribed: list[str] = field(default_factory=list)  # stored FAILED: calls retry
    unreadable: list[str] = field(default_factory=list)  # not stored: import again
    problems: list[str] = field(default_factory=list)  # details left out, by file
    audio_seconds: float = 0.0
    interrupted: bool = False

    @property
    def new(self) -> int:
        return self.transcribed + self.missed + len(self.not_transcribed)


def find_groups(
    paths: Sequence[Path], *, recursive: bool, leg_suffixes: tuple[str, str]
) -> tuple[list[Group], int]:
    """The recordings under ``paths`` (files, or folders: their files, and with
    ``recursive`` their sub-folders'), leg files grouped; and how many files were not
    recordings."""
    groups: list[Group] = []
    ignored = 0
    for path in paths:
        given = path.resolve()  # the import remembers where its files are
        root = given if given.is_dir() else given.parent
        found = [given] if given.is_file() else _files(given, recursive)
        audio = [p for p in found if p.suffix.lower() in AUDIO_SUFFIXES]
        # Sidecars and metadata files are part of the archive, not strays.
        ignored += sum(1 for p in found if p.suffix.lower() not in (*AUDIO_SUFFIXES, *DESCRIPTIONS))
        by_call: dict[tuple[Path, str], list[Path]] = {}
        for file in audio:
            by_call.setdefault((file.parent, _call_stem(file, leg_suffixes)), []).append(file)
        groups += [
            Group(root, tuple(sorted(files, key=lambda p: _mix_first(p, leg_suffixes))))
            for files in by_call.values()
        ]
    return sorted(groups, key=lambda g: g.main), ignored


def _files(folder: Path, recursive: bool) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if not recursive:
            dirnames.clear()
        dirnames.sort()
        found += [Path(dirpath) / name for name in sorted(filenames) if not name.startswith(".")]
    return [p for p in found if p.is_file() and not p.is_symlink()]


def _call_stem(path: Path, suffixes: tuple[str, str]) -> str:
    stem = path.stem
    for suffix in suffixes:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _mix_first(path: Path, suffixes: tuple[str, str]) -> tuple[int, str]:
    return (1 if path.stem.endswith(suffixes) else 0, path.name)


def digest(files: Sequence[Path]) -> str:
    """The identity of a recording's contents."""
    if len(files) == 1:
        with files[0].open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    whole = hashlib.sha256()
    for path in files:
        whole.update(bytes.fromhex(digest([path])))
    return whole.hexdigest()


@dataclass(frozen=True, slots=True)
class Candidate:
    group: Group
    event: CallEvent
    plan: RecordingPlan


@dataclass(frozen=True, slots=True)
class _Copied:
    candidate: Candidate
    file: FetchedFile


@dataclass
class Importer:
    store: Store
    settings: Settings
    options: Options
    report: Report = field(default_factory=Report)

    def new_calls(self, groups: Sequence[Group]) -> list[Candidate]:
        """The recordings not imported before, as the calls they make."""
        candidates = [self._candidate(group) for group in groups]
        known: set[str] = set()
        for first in range(0, len(candidates), 500):
            ids = [c.event.external_id for c in candidates[first : first + 500]]
            known |= self.store.known_calls(self.options.source, ids)
        self.report.files += len(groups)
        self.report.known += sum(1 for c in candidates if c.event.external_id in known)
        return [c for c in candidates if c.event.external_id not in known]

    def seconds(self, candidates: Sequence[Candidate]) -> float:
        return sum(declared_seconds(c.group.main) for c in candidates)

    def store_missed(self, candidates: Sequence[Candidate]) -> None:
        """Store the calls whose recording holds nothing but a header: missed calls."""
        for candidate in candidates:
            event = candidate.event
            sinks = sinks_at_ingest(self.settings.routes, event) if self.options.deliver else []
            if self.store.ingest(event, sinks).created:
                self.report.missed += 1
            else:
                self.report.known += 1

    def run(
        self, engine: Engine, candidates: Sequence[Candidate], advance: Callable[[float], None]
    ) -> None:
        """Copy, transcribe and store the new calls with audio; ``advance(seconds)`` as
        each is done."""
        try:
            for outcome in transcribe_all(engine, self._copied(candidates), self._decode):
                self._store(outcome)
                transcript = outcome.transcript
                advance(
                    transcript.duration if transcript else self.seconds([outcome.item.candidate])
                )
        except KeyboardInterrupt:
            self.report.interrupted = True

    def _candidate(self, group: Group) -> Candidate:
        options = self.options
        details: dict[str, Any] = {"ended_at": _modified(group.main)}
        raw: dict[str, Any] = {
            "file": group.relative,
            "size": sum(p.stat().st_size for p in group.files),
        }
        problems: list[str] = []
        name = read_name(_call_stem(group.main, options.leg_suffixes), options.zone)
        if name.raw:  # a FreePBX name; any other naming says nothing, and is no problem
            details |= name.fields
            raw["recording_name"] = name.raw
            problems += name.problems
        sidecar = read_sidecar(sidecar_path(group.main))
        row: Row | None = options.metadata.find(group.relative, group.main.name)
        for described in (sidecar, row.details if row else None):
            if described is not None:
                details |= described.fields
                raw |= described.raw
                problems += described.problems
        if problems:
            self.report.problems.append(f"{group.relative}: {'; '.join(problems)}")
        direction = details.get("direction", Direction.UNKNOWN)
        side = Speaker.OPERATOR if direction is Direction.OUTBOUND else Speaker.CLIENT
        paths = [str(p) for p in group.files]
        plan = from_files(paths, options.leg_suffixes, options.raw_stereo).on_side(side)
        raw[IMPORTED] = {"plan": plan.to_raw(), "deliver": options.deliver}
        audible = any(p.stat().st_size > HEADER_ONLY_BYTES for p in group.files)
        channels = (row.channels if row else None) or plan.channels
        identity = row.external_id if row and row.external_id else f"sha256:{digest(group.files)}"
        event = CallEvent(
            source=options.source,
            external_id=identity,
            recordings=(RecordingRef(plan.location, channels),) if audible else (),
            raw=raw,
            **{"direction": direction, **{k: v for k, v in details.items() if k != "direction"}},
        )
        return Candidate(group, event, plan)

    def _copied(self, candidates: Sequence[Candidate]) -> Iterator[_Copied]:
        folder = self.settings.daemon.recordings_dir / "import"
        for candidate in candidates:
            target = folder / secrets.token_hex(8)
            target.mkdir(parents=True, exist_ok=True)
            reader = SpoolReader(
                roots=(candidate.group.root,),
                path_map={},
                max_bytes=self.settings.daemon.max_recording_bytes,
            )
            try:
                yield _Copied(candidate, reader.copy(candidate.plan, target))
            except CallscribeError as exc:
                shutil.rmtree(target, ignore_errors=True)
                self.report.unreadable.append(f"{candidate.group.relative}: {exc}")

    def _decode(self, copied: _Copied) -> CallAudio:
        t = self.settings.transcription
        return decode_file(
            copied.file.path,
            channels=channels_of(copied.candidate.event, self.settings),
            limits=AudioLimits(t.max_duration_seconds, t.max_file_bytes),
        )

    def _store(self, outcome: Outcome[_Copied]) -> None:
        copied = outcome.item
        event = copied.candidate.event
        stored = RecordingFile(str(copied.file.path), copied.file.size, copied.file.sha256)
        transcript = outcome.transcript
        sinks = sinks_for(self.settings.routes, event) if self.options.deliver else []
        ingested = self.store.import_call(
            event,
            stored,
            transcript,
            error=None if transcript else str(outcome.error),
            settings=self.settings.transcription.recorded(),
            sinks=sinks,
        )
        if not ingested.created:  # another import stored it meanwhile: ours is a spare copy
            shutil.rmtree(copied.file.path.parent, ignore_errors=True)
            self.report.known += 1
        elif transcript is None:
            self.report.not_transcribed.append(
                f"{copied.candidate.group.relative}: {outcome.error}"
            )
        else:
            self.report.transcribed += 1
            self.report.audio_seconds += transcript.duration


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
