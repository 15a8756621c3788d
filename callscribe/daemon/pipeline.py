"""The three stages a call goes through in the daemon: fetch, transcribe, deliver.

Each stage handler receives jobs claimed by a worker (``workers.py``) and settles every
one of them: completes it (which queues the next stage in the same transaction), retries
it later, or buries it with the reason.  Transcription never runs on the event loop:
decoding happens in a separate process (``decoding.py``) and recognition in a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callscribe import faults
from callscribe.config.routes import sinks_for
from callscribe.config.settings import Settings
from callscribe.connectors.base import (
    DeliveryContext,
    FetchingSource,
    RunningSource,
    Sink,
    WebhookSource,
)
from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.settings import SourceSettings
from callscribe.daemon.decoding import DecoderPool
from callscribe.daemon.links import RecordingLinks
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.recording_server import kept_file
from callscribe.daemon.workers import Doorbell, settle_failure
from callscribe.domain import Call, CallEvent, Delivery, DeliveryState, Recording, Speaker
from callscribe.errors import CallscribeError, RecognitionError
from callscribe.redaction.audio import silence_spans
from callscribe.redaction.delivery import for_sink
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.base import Job, JobKind
from callscribe.transcription.audio import AudioLimits, CallAudio
from callscribe.transcription.batch import GROUP_AUDIO_SECONDS
from callscribe.transcription.engine import Engine

log = logging.getLogger(__name__)

# Recordings decoded at once, by as many decoder processes.
DECODED_AT_ONCE = 2


@dataclass(frozen=True, slots=True)
class Decoded:
    """A claimed call whose recording decoded, waiting to be recognised."""

    job: Job
    call: Call
    audio: CallAudio
    seconds: float  # spent decoding


@dataclass(frozen=True, slots=True)
class Pipeline:
    settings: Settings
    store: AsyncStoreApi
    engine: Engine | None  # None on a node without the transcribe role
    decoder: DecoderPool
    fetcher: RecordingFetcher
    fetch_policies: Mapping[str, FetchPolicy]  # by source name
    sources: Mapping[str, WebhookSource | RunningSource]
    sinks: Mapping[str, Sink]
    metrics: Metrics
    doorbells: Mapping[JobKind, Doorbell]
    links: RecordingLinks | None = None  # with [daemon] public_url

    async def fetch(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            call = await self.store.call(job.call_id)
            policy = self.fetch_policies.get(call.event.source, FetchPolicy())
            target = self.settings.daemon.recordings_dir / str(call.id)
            source = self.sources.get(call.event.source)
            started = time.perf_counter()
            try:
                if isinstance(source, FetchingSource):
                    fetched = await source.fetch_recording(call, self.fetcher, policy, target)
                else:
                    location = call.event.recordings[0].location
                    fetched = await self.fetcher.fetch(location, policy, target)
            except CallscribeError as exc:
                await settle_failure(self.store, job, exc, self.settings.retry.policy("fetch"))
                continue
            self.metrics.downloaded(call.event.source, time.perf_counter() - started)
            recording = Recording(
                call.id, str(fetched.path), fetched.size, fetched.sha256, datetime.now(UTC)
            )
            await self.store.complete_fetch(job, recording)
            self.doorbells[JobKind.TRANSCRIBE].ring()

    async def transcribe(self, jobs: Sequence[Job]) -> None:
        """Decode the claimed calls a few at a time and recognise them in groups.

        Together their windows fill the decoder's batches, but a group stops at
        ``GROUP_AUDIO_SECONDS`` of audio (what the CLI holds too), so eight long calls
        claimed at once are never all in memory: a minute of a stereo call takes 8 MB.
        """
        group: list[Decoded] = []
        for first in range(0, len(jobs), DECODED_AT_ONCE):
            decoded = await asyncio.gather(
                *(self._decode(job) for job in jobs[first : first + DECODED_AT_ONCE])
            )
            group += [item for item in decoded if item is not None]
            if sum(item.audio.duration for item in group) >= GROUP_AUDIO_SECONDS:
                await self._recognise(group)
                group = []
        if group:
            await self._recognise(group)

    async def _recognise(self, group: Sequence[Decoded]) -> None:
        started = time.perf_counter()
        faults.reach("transcribe")
        try:
            if self.engine is None:
                raise RecognitionError("this node has no model (no transcribe role)")
            transcripts = await asyncio.to_thread(
                self.engine.transcribe_many, [item.audio for item in group]
            )
        except Exception as exc:
            log.exception("recognition failed for calls %s", [item.call.id for item in group])
            for item in group:
                error = RecognitionError(f"speech recognition failed: {exc!r}")
                await settle_failure(
                    self.store, item.job, error, self.settings.retry.policy("transcribe")
                )
            return
        self.metrics.transcribed(
            time.perf_counter() - started, sum(item.audio.duration for item in group)
        )
        for item, transcript in zip(group, transcripts, strict=True):
            job, call = item.job, item.call
            timings = dataclasses.replace(transcript.timings, decode=round(item.seconds, 3))
            transcript = dataclasses.replace(transcript, timings=timings)  # noqa: PLW2901
            routed = sinks_for(self.settings.routes, call.event)
            recorded = self.settings.transcription.recorded()
            await self.store.complete_transcribe(job, transcript, routed, recorded)
            if not routed:
                warn_unrouted(call.id)
            log.info(
                "call %d transcribed: %.0f s of audio, %d segments, %d invented phrases "
                "dropped; to %s",
                call.id,
                transcript.duration,
                len(transcript.segments),
                transcript.dropped_hallucinations,
                ", ".join(routed) or "no sink (no route matches)",
            )
        self.doorbells[JobKind.DELIVER].ring()

    async def _decode(self, job: Job) -> Decoded | None:
        """The call's audio, or None once a failure has been settled."""
        call = await self.store.call(job.call_id)
        recording = await self.store.recording(job.call_id)
        if recording is None:  # cannot happen unless the database was edited by hand
            await settle_failure(
                self.store,
                job,
                CallscribeError("no recording stored"),
                self.settings.retry.policy("transcribe"),
            )
            return None
        started = time.perf_counter()
        try:
            audio = await self.decoder.decode(
                Path(recording.path), channels_of(call.event, self.settings), self._limits()
            )
        except CallscribeError as exc:
            await settle_failure(self.store, job, exc, self.settings.retry.policy("transcribe"))
            return None
        return Decoded(job, call, audio, time.perf_counter() - started)

    def _limits(self) -> AudioLimits:
        t = self.settings.transcription
        return AudioLimits(t.max_duration_seconds, t.max_file_bytes)

    async def deliver(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            sink = self.sinks.get(job.sink or "")
            if sink is None:
                error = CallscribeError(f"sink {job.sink!r} is no longer in the configuration")
                await settle_failure(self.store, job, error, self.settings.retry.policy("delivery"))
                continue
            call = await self.store.call(job.call_id)
            transcript = await self.store.transcript(job.call_id, job.version)
            context = await self._delivery_context(call, sink.name, job.version)
            try:
                # Before the sink sees anything, so no sink can forget it.
                transcript, context = await for_sink(
                    sink.name,
                    transcript,
                    context,
                    policy=self.settings.redaction.settings_for(sink.name),
                    event=call.event,
                    silence=self._silence,
                )
                if transcript is not None and transcript.redactions:
                    kinds = sorted({r.kind for r in transcript.redactions})
                    log.info(
                        "call %d to %s: %d value(s) hidden (%s)",
                        call.id,
                        sink.name,
                        len(transcript.redactions),
                        ", ".join(kinds),
                    )
                remote_id = await sink.deliver(call, transcript, context)
                faults.reach("deliver.done")
            except CallscribeError as exc:
                self.metrics.delivered(sink.name, "retry" if exc.retryable else "failed")
                await settle_failure(self.store, job, exc, self.settings.retry.policy("delivery"))
                continue
            await self.store.complete_delivery(job, remote_id)
            again = ""
            if context.revises is None:
                self.metrics.delivered_call(sink.name, call)
            else:  # not a call's latency: a newer transcript, sent days later perhaps
                self.metrics.delivered(sink.name, "delivered")
                again = f" (transcript version {job.version})"
            log.info("call %d delivered to %s%s", call.id, sink.name, again)

    async def _silence(
        self, source: Path, spans: Sequence[tuple[float, float]], target: Path
    ) -> Path:
        work = functools.partial(silence_spans, limits=self._limits())
        return await self.decoder.run(source.name, work, source, list(spans), target)

    async def _delivery_context(self, call: Call, sink: str, version: int) -> DeliveryContext:
        deliveries = await self.store.deliveries(call_id=call.id, sink=sink)
        (delivery,) = [d for d in deliveries if d.version == version]
        earlier = [d for d in deliveries if d.version < version]
        recording = await self.store.recording(call.id)
        path = Path(recording.path) if recording is not None else None

        async def save(progress: Mapping[str, Any]) -> None:
            await self.store.save_delivery_progress(call.id, sink, progress, version)

        present = path if path is not None and path.is_file() else None
        kept = kept_file(recording, self.settings.daemon.recordings_dir) if present else None
        return DeliveryContext(
            key=delivery.idempotency_key,
            progress=delivery.progress,
            save=save,
            recording=present,
            recording_url=recording_link(
                call, self.settings.sources.get(call.event.source), kept, self.links
            ),
            channels=channels_of(call.event, self.settings),
            version=version,
            revises=revised(earlier),
        )


def revised(earlier: Sequence[Delivery]) -> Mapping[str, Any] | None:
    """What a sink saved delivering the call's latest earlier transcript it got (the
    latest delivered one; the latest tried if none was), None for a first delivery."""
    if not earlier:
        return None
    delivered = [d for d in earlier if d.state is DeliveryState.DELIVERED]
    return max(delivered or earlier, key=lambda d: d.version).progress


def channels_of(event: CallEvent, settings: Settings) -> tuple[Speaker, Speaker]:
    """Who is on the left and right of the call's recording: the recording's own map,
    else its source's, else ``[transcription] channels``."""
    recordings = event.recordings
    source = settings.sources.get(event.source)
    return (
        (recordings[0].channels if recordings else None)
        or (source.channels if source else None)
        or settings.transcription.channels
    )


def warn_unrouted(call_id: int) -> None:
    log.warning(
        "call %d matches no route: kept, delivered nowhere (callscribe routes test --call %d)",
        call_id,
        call_id,
    )


def recording_link(
    call: Call,
    source: SourceSettings | None,
    kept: Path | None,
    links: RecordingLinks | None,
) -> str | None:
    """A link a platform can play the call's recording from, or None.

    The source's own URL when the source says its URLs last and platforms can reach
    them (``share_recording_urls``); otherwise callscribe's signed link while it serves
    links (``[daemon] public_url``) and keeps the file (``kept``).
    """
    if call.event.recordings and source is not None and source.share_recording_urls:
        location = call.event.recordings[0].location
        if location.startswith(("https://", "http://")):
            return location
    if links is not None and kept is not None:
        return links.url(call.id, kept.suffix)
    return None
