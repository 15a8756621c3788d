"""``callscribe retranscribe``: stored calls transcribed again with other settings, in the
command's own process, beside the running service (docs/architecture.md, "Batch work").

The command runs the engine itself, with ``transcription/batch.transcribe_all`` — the
batching ``callscribe transcribe`` has — rather than queueing work for the service, which
runs one model with its own settings.  What it does is recorded in the store as it goes
(a run per request; each call QUEUED, RUNNING under this command's lease, DONE with the
version it made, SKIPPED or FAILED with the reason), so:

- Ctrl-C gives the calls in hand back; the same command later goes on with the rest;
- a command killed outright leaves its calls leased: the next one on this machine sees
  that its process is gone and takes them at once (on another machine, once the lease
  runs out);
- the service never works on a call a command holds, nor a command on a call the
  service has in hand (``Store.claim_retranscribe``).

Each new transcript is stored as the next version of the call's transcript, with the
settings that made it; with ``redeliver`` each sink that had the call gets the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callscribe.config.settings import Settings
from callscribe.daemon.pipeline import channels_of
from callscribe.domain import Call
from callscribe.errors import CallscribeError
from callscribe.refetch import Located, Recordings, Unavailable, scratch_of
from callscribe.store.base import CallFilter, ItemState, RetranscribeItem, RetranscribeRun, Store
from callscribe.transcription.audio import AudioLimits, CallAudio, decode_file
from callscribe.transcription.batch import GROUP_MAX_CALLS, Outcome, transcribe_all
from callscribe.transcription.engine import Engine

LEASE_SECONDS = 600.0  # renewed at every call finished; a group takes well under a minute
# What --dry-run assumes before any run measured this machine: the bundled base model on
# two cores did 178 s of samples at about ×20 (docs/benchmarks.md); half that, to be safe.
ASSUMED_SPEED = 10.0


@dataclass(frozen=True, slots=True)
class Request:
    """What the admin asked for: the same request is the same run (resumed)."""

    where: CallFilter
    overrides: Mapping[str, Any]  # [transcription] settings given with --set
    redeliver: bool

    def described(self) -> dict[str, Any]:
        w = self.where
        return {
            "since": None if w.since is None else w.since.isoformat(),
            "until": None if w.until is None else w.until.isoformat(),
            "source": w.source,
            "operator": w.operator,
            "state": None if w.state is None else w.state.value,
            "calls": sorted(w.call_ids),
            "set": dict(sorted(self.overrides.items())),
            "redeliver": self.redeliver,
        }

    @property
    def key(self) -> str:
        canonical = json.dumps(self.described(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_local_workers(items: Sequence[RetranscribeItem]) -> set[str]:
    """Workers holding calls that ran on this machine and whose process is gone."""
    host = socket.gethostname()
    dead = set()
    for item in items:
        if item.state is not ItemState.RUNNING or item.worker is None:
            continue
        name, _, pid = item.worker.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            dead.add(item.worker)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def take_over_dead(store: Store, run_id: int, settings: Settings) -> int:
    """Give back the calls of killed commands on this machine, and remove the folders
    they fetched recordings into; returns how many calls."""
    released = 0
    for worker in dead_local_workers(store.retranscribe_items(run_id)):
        released += store.release_retranscribe(run_id, worker)
    host = scratch_of(settings.daemon.state_dir, f"{socket.gethostname()}:")
    for folder in host.parent.glob(host.name + "*"):
        pid = folder.name.removeprefix(host.name)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return released


@dataclass
class Tally:
    """What this command did (the run's items say what every command did)."""

    done: list[int] = field(default_factory=list)
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True, slots=True)
class _Work:
    call: Call
    located: Located


@dataclass
class Retranscription:
    """One command's share of a run: claims calls, transcribes them, records each."""

    store: Store
    settings: Settings  # with the --set overrides in [transcription]
    run: RetranscribeRun
    recordings: Recordings
    redeliver_to: frozenset[str]
    durations: Mapping[int, float]  # seconds of audio per call, for progress
    advance: Callable[[float], None]  # progress: seconds of audio dealt with
    worker: str = field(default_factory=this_worker)
    tally: Tally = field(default_factory=Tally)

    def go(self, engine: Engine) -> Tally:
        try:
            for outcome in transcribe_all(engine, self._claimed(), self._decode):
                self._record(outcome)
        except KeyboardInterrupt:
            self.tally.interrupted = True
        finally:
            self.store.release_retranscribe(self.run.id, self.worker)
            self.store.record_retranscribe_work(
                self.run.id, self.tally.audio_seconds, self.tally.seconds
            )
        return self.tally

    def _claimed(self) -> Iterator[_Work]:
        while calls := self.store.claim_retranscribe(
            self.run.id, self.worker, LEASE_SECONDS, GROUP_MAX_CALLS
        ):
            for call in calls:
                work = self._prepared(call)
                if work is not None:
                    yield work

    def _prepared(self, call: Call) -> _Work | None:
        recording = self.store.recording(call.id)
        facts = self.store.call_facts([call.id]).get(call.id)
        try:
            return _Work(call, self.recordings.locate(call, recording, facts))
        except Unavailable as exc:
            self._settle(call.id, ItemState.SKIPPED, str(exc))
        except CallscribeError as exc:
            self._settle(call.id, ItemState.FAILED, f"fetching it again: {exc}")
        return None

    def _decode(self, work: _Work) -> CallAudio:
        t = self.settings.transcription
        limits = AudioLimits(t.max_duration_seconds, t.max_file_bytes)
        return decode_file(
            work.located.path, channels=channels_of(work.call.event, self.settings), limits=limits
        )

    def _record(self, outcome: Outcome[_Work]) -> None:
        work = outcome.item
        self.recordings.done_with(work.located)
        transcript = outcome.transcript
        if transcript is None:
            self._settle(work.call.id, ItemState.FAILED, str(outcome.error))
            return
        version = self.store.save_retranscription(
            self.run.id,
            work.call.id,
            self.worker,
            transcript,
            settings=self.settings.transcription.recorded(),
            redeliver_to=self.redeliver_to,
        )
        if version is not None:
            self.tally.done.append(work.call.id)
        self.tally.audio_seconds += transcript.duration
        self.advance(transcript.duration)
        self.store.renew_retranscribe(self.run.id, self.worker, LEASE_SECONDS)

    def _settle(self, call_id: int, state: ItemState, reason: str) -> None:
        self.store.settle_retranscribe(self.run.id, call_id, self.worker, state, reason)
        self.advance(self.durations.get(call_id, 0.0))


@dataclass(frozen=True, slots=True)
class Assessment:
    """What a run would do (``--dry-run``), without claiming or fetching anything."""

    to_do: list[int]
    to_fetch: list[int]  # of those, whose recording must be fetched again
    obstacles: dict[int, str]  # calls that cannot be redone, and why
    done_earlier: list[int]  # by an earlier command with the same request


def assess(
    store: Store,
    recordings: Recordings,
    calls: Sequence[Call],
    run: RetranscribeRun | None,
) -> Assessment:
    done = set()
    if run is not None:
        done = {i.call_id for i in store.retranscribe_items(run.id) if i.state is ItemState.DONE}
    pending = [call for call in calls if call.id not in done]
    obstacles = store.retranscribe_obstacles(run.id if run else None, [c.id for c in pending])
    facts = store.call_facts([call.id for call in pending])
    to_do: list[int] = []
    to_fetch: list[int] = []
    for call in pending:
        if call.id in obstacles:
            continue
        kept = recordings.kept(store.recording(call.id), facts.get(call.id))
        reason = None if kept else recordings.obstacle(call)
        if reason is not None:
            obstacles[call.id] = reason
            continue
        to_do.append(call.id)
        if not kept:
            to_fetch.append(call.id)
    return Assessment(to_do, to_fetch, obstacles, sorted(done & {c.id for c in calls}))


def audio_seconds(store: Store, call_ids: Collection[int]) -> dict[int, float]:
    """Seconds of audio of each call, from its current transcript (0 when deleted)."""
    facts = store.call_facts(list(call_ids))
    return {call_id: (facts[call_id].duration or 0.0) if call_id in facts else 0.0
            for call_id in call_ids}  # fmt: skip


def estimate(store: Store, model: str, seconds: float) -> tuple[float, float, bool]:
    """(estimated seconds of work, speed, measured) for ``seconds`` of audio."""
    speed = store.retranscribe_speed(model)
    measured = speed is not None
    speed = speed or ASSUMED_SPEED
    return seconds / speed, speed, measured
