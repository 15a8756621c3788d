"""The daemon's transcribe stage on a real SQLite queue and real decoder processes: claimed
calls are recognised in groups bounded by their audio, and a broken recording fails alone.

The engine is a stand-in at our own seam (it notes what it is given); the model's part of
the stage is covered by the end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from callscribe.config.daemon import DaemonSettings
from callscribe.config.settings import Settings
from callscribe.connectors.fetch import RecordingFetcher
from callscribe.daemon import pipeline
from callscribe.daemon.decoding import DecoderPool
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.pipeline import Pipeline
from callscribe.daemon.workers import Doorbell
from callscribe.domain import Recording, Transcript
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import JobKind, JobState
from callscribe.store.sqlite import SqliteStore
from callscribe.transcription.audio import CallAudio
from callscribe.transcription.engine import Engine
from tests.integration.store_values import event
from tests.samples import sample_calls


class EngineStandIn:
    """Notes the durations of each group it is asked to recognise."""

    def __init__(self) -> None:
        self.groups: list[list[float]] = []

    def transcribe_many(self, calls: Sequence[CallAudio]) -> list[Transcript]:
        self.groups.append([round(call.duration) for call in calls])
        return [Transcript((), call.duration, "ru", "stand-in") for call in calls]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    wrapper = AsyncStore(SqliteStore(tmp_path / "callscribe.db"))
    yield wrapper
    await wrapper.aclose()


@pytest.fixture
def decoder() -> Iterator[DecoderPool]:
    pool = DecoderPool(workers=2)
    yield pool
    pool.close()


async def queued_for_transcription(store: AsyncStore, recordings: Sequence[Path]) -> list[int]:
    """Calls whose recordings are fetched, so their transcribe jobs are queued."""
    call_ids = []
    for n, path in enumerate(recordings):
        call_ids.append((await store.ingest(event(n))).call_id)
        [job] = await store.claim([JobKind.FETCH], "test", 60)
        size = path.stat().st_size
        await store.complete_fetch(
            job, Recording(job.call_id, str(path), size, "0" * 64, datetime.now(UTC))
        )
    return call_ids


async def test_claimed_calls_are_recognised_in_groups_bounded_by_audio(
    store: AsyncStore, decoder: DecoderPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sample = sample_calls()[0]  # 39 s
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot a wave file at all")
    recordings = [sample, sample, broken, sample]
    for index, path in enumerate(recordings):
        recordings[index] = shutil.copy(path, tmp_path / f"{index}.wav")
    call_ids = await queued_for_transcription(store, recordings)
    monkeypatch.setattr(pipeline, "GROUP_AUDIO_SECONDS", 60.0)
    engine = EngineStandIn()
    stage = Pipeline(
        settings=Settings(daemon=DaemonSettings(state_dir=tmp_path)),
        store=store,
        engine=cast(Engine, engine),
        decoder=decoder,
        fetcher=cast(RecordingFetcher, None),  # the transcribe stage fetches nothing
        fetch_policies={},
        sources={},
        sinks={},
        metrics=Metrics(),
        doorbells={JobKind.DELIVER: Doorbell()},
    )
    jobs = await store.claim([JobKind.TRANSCRIBE], "test", 60, limit=8)
    assert len(jobs) == 4

    await stage.transcribe(jobs)

    # Decoded two at a time: the first pair (78 s) is over 60 s and recognised at once;
    # the broken file drops out of the second pair, which is recognised at the end.
    assert engine.groups == [[39, 39], [39]]
    for call_id, path in zip(call_ids, recordings, strict=True):
        transcript = await store.transcript(call_id)
        assert (transcript is None) is (path.name == "2.wav")
    states = {job.call_id: job for job in await store.jobs(kind=JobKind.TRANSCRIBE)}
    assert [states[call_id].state for call_id in call_ids] == [
        JobState.DONE,
        JobState.DONE,
        JobState.DEAD,  # a file that is not audio is not retried
        JobState.DONE,
    ]
    assert "2.wav" in (states[call_ids[2]].error or "")
