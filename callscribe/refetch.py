"""A stored call's recording, for ``callscribe retranscribe``: the file callscribe still
keeps, or a copy fetched again from where the call came from.

Retention deletes recordings once calls are delivered, so most calls of last month have
none left.  A copy is fetched again the way the service fetched it, from the call's source
as the configuration has it now (its fetch policy, its credentials for a vendor's API, its
spool folders), or for an imported call from the files it was imported from; the copy is
temporary (a folder of the command's own, removed when it ends) and never recorded in the
store, so retention has nothing new to track.  A call whose source is gone from the
configuration, or that never had a recording, cannot be redone: :class:`Unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callscribe.config.settings import Settings
from callscribe.connectors.base import FetchingSource, RunningSource, WebhookSource
from callscribe.connectors.fetch import RecordingFetcher
from callscribe.connectors.registry import build_source
from callscribe.connectors.sources.asterisk.files import SpoolReader
from callscribe.connectors.sources.asterisk.plan import RecordingPlan
from callscribe.connectors.spool import FetchedFile
from callscribe.domain import Call, CallEvent, Recording
from callscribe.errors import CallscribeError
from callscribe.store.base import CallFacts

#: ``CallEvent.raw`` key of a call ``callscribe import`` brought in: how its files make
#: the recording (``{"plan": RecordingPlan.to_raw(), ...}``).
IMPORTED = "imported"


class Unavailable(CallscribeError):  # noqa: N818 - a state of the call, not an accident
    """The call's recording is gone and cannot be fetched again (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Located:
    path: Path
    temporary: bool  # fetched again into the scratch folder: delete it once used


class Recordings:
    """Finds or fetches calls' recordings; fetched copies go under ``scratch``."""

    def __init__(self, settings: Settings, scratch: Path, runner: asyncio.Runner) -> None:
        self._settings = settings
        self._scratch = scratch
        self._runner = runner
        self._fetcher = RecordingFetcher()
        self._sources: dict[str, WebhookSource | RunningSource] = {}

    def locate(self, call: Call, recording: Recording | None, facts: CallFacts | None) -> Located:
        """The recording of ``call`` (``recording``: its stored row, ``facts`` say whether
        retention deleted it).  Raises :class:`Unavailable`, or another
        ``CallscribeError`` (a ``FetchError`` saying why) when fetching it again failed."""
        if recording is not None and self.kept(recording, facts):
            return Located(Path(recording.path), temporary=False)
        reason = self.obstacle(call)
        if reason is not None:
            raise Unavailable(reason)
        target = self._scratch / str(call.id)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return Located(self._fetch(call, target).path, temporary=True)

    @staticmethod
    def kept(recording: Recording | None, facts: CallFacts | None) -> bool:
        """Whether callscribe still has the recording's file."""
        purged = facts is not None and facts.recording_purged_at is not None
        return recording is not None and not purged and Path(recording.path).is_file()

    def obstacle(self, call: Call) -> str | None:
        """Why the call's recording cannot be fetched again; None when it can be tried."""
        event = call.event
        if isinstance(event.raw.get(IMPORTED), Mapping):
            return None
        if not event.recordings:
            return "the call has no recording"
        if event.source not in self._settings.sources:
            return (
                f"its recording was deleted and its source {event.source!r} is no longer in "
                "the configuration to fetch it again"
            )
        return None

    def done_with(self, located: Located) -> None:
        if located.temporary:
            shutil.rmtree(located.path.parent, ignore_errors=True)

    def _fetch(self, call: Call, target: Path) -> FetchedFile:
        event = call.event
        imported = event.raw.get(IMPORTED)
        if isinstance(imported, Mapping):
            return imported_recording(imported, target, self._settings.daemon.max_recording_bytes)
        config = self._settings.sources[event.source]
        source = self._sources.get(event.source) or build_source(event.source, config)
        self._sources[event.source] = source
        local_dirs = tuple(getattr(source, "local_dirs", ()))
        policy = config.fetch_policy(self._settings.daemon.max_recording_bytes, local_dirs)
        if isinstance(source, FetchingSource):
            work = source.fetch_recording(call, self._fetcher, policy, target)
        else:
            work = self._fetcher.fetch(event.recordings[0].location, policy, target)
        return self._runner.run(work)


def source_files(event: CallEvent) -> list[Path]:
    """The files on this machine a call's recording came from (a watched folder's file,
    an imported archive's), as far as the event says; they may be gone since."""
    imported = event.raw.get(IMPORTED)
    if isinstance(imported, Mapping) and isinstance(imported.get("plan"), Mapping):
        with contextlib.suppress(TypeError, ValueError):
            return [Path(p) for p in RecordingPlan.from_raw(imported["plan"]).files]
    return [Path(r.location) for r in event.recordings if r.location.startswith("/")]


def imported_recording(imported: Mapping[str, Any], target: Path, max_bytes: int) -> FetchedFile:
    """An imported call's recording made again from the files it was imported from
    (combined as at import: ``callscribe.archive``)."""
    try:
        plan = RecordingPlan.from_raw(imported["plan"])
    except (KeyError, TypeError, ValueError):
        raise Unavailable("it was imported without a record of its files") from None
    roots = tuple({Path(path).parent for path in plan.files})
    reader = SpoolReader(roots=roots, path_map={}, max_bytes=max_bytes)
    try:
        return reader.copy(plan, target)
    except CallscribeError as exc:
        raise Unavailable(f"the files it was imported from cannot be read again: {exc}") from None


def scratch_of(state_dir: Path, worker: str) -> Path:
    """The folder of a command's recordings fetched again: one a killed command left is
    removed by the next, which knows its worker was on this machine and is dead."""
    return state_dir / f".retranscribe-{worker.replace(':', '-').replace('/', '-')}"


@contextlib.contextmanager
def scratch_folder(state_dir: Path, worker: str) -> Iterator[Path]:
    """A folder of this command's own for recordings fetched again, removed at the end."""
    folder = scratch_of(state_dir, worker)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
