"""The transcription engine: calls in, dialogues out.

One :class:`Engine` per process holds the model (loaded once; loading costs a second and
~300 MB).  ``transcribe_many`` decodes the speech windows of several calls together, so a
queue of short calls keeps the batch full.  It is safe to call from several threads; calls
are serialised on the model, which already uses every core it was given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from callscribe.config import TranscriptionSettings
from callscribe.domain import Timings, Transcript
from callscribe.transcription.allocator import limit_arenas, release_free_memory
from callscribe.transcription.audio import CallAudio
from callscribe.transcription.blas_threads import limit_blas_threads
from callscribe.transcription.decoder import WindowText, bucket_size
from callscribe.transcription.hallucinations import HallucinationFilter
from callscribe.transcription.loading import load_model
from callscribe.transcription.segments import TimedWord, build_segments
from callscribe.transcription.windows import VadSettings, Window, plan_windows

log = logging.getLogger(__name__)

BALANCE_SLACK = 1.1  # a worker may finish 10 % after the average before a batch is split


class Engine:
    """faster-whisper with VAD-packed, batched, per-channel decoding."""

    def __init__(self, settings: TranscriptionSettings) -> None:
        self.settings = settings
        limit_arenas()  # before the model and the pools start their threads
        limit_blas_threads()
        loaded = load_model(settings)
        self._model = loaded.whisper
        self._decoder = loaded.decoder
        self.encoder = loaded.encoder
        self.vocabulary = loaded.vocabulary
        self.batch_size = loaded.batch_size
        self._hallucinations = HallucinationFilter(settings.hallucination_patterns)
        self._vad = VadSettings(
            threshold=settings.vad_threshold,
            min_silence_ms=settings.vad_min_silence_ms,
            speech_pad_ms=settings.vad_speech_pad_ms,
            window_seconds=settings.window_seconds,
        )
        self._lock = threading.Lock()
        # CTranslate2 runs one batch per worker at a time; on few cores, two batches with one
        # thread each beat one batch with two threads (docs/benchmarks.md).
        self._pool = ThreadPoolExecutor(settings.effective_workers, thread_name_prefix="whisper")

    @property
    def model_name(self) -> str:
        return self.settings.model

    def transcribe(self, call: CallAudio) -> Transcript:
        return self.transcribe_many([call])[0]

    def transcribe_many(self, calls: Sequence[CallAudio]) -> list[Transcript]:
        """Transcripts of these calls, in the same order."""
        if not calls:
            return []
        with self._lock:
            try:
                started = time.perf_counter()
                windows = plan_windows(calls, self._vad, self._pool.map)
                vad_seconds = time.perf_counter() - started
                languages = self._languages(calls, windows)
                started = time.perf_counter()
                texts = self._decode(calls, windows, languages)
                recognition_seconds = time.perf_counter() - started
            finally:
                release_free_memory()
        return self._assemble(
            calls,
            windows,
            texts,
            languages,
            Timings(vad=vad_seconds, recognition=recognition_seconds),
        )

    def _decode(
        self, calls: Sequence[CallAudio], windows: Sequence[Window], languages: Sequence[str]
    ) -> list[WindowText]:
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, window in enumerate(windows):
            groups[languages[window.call], bucket_size(window.length)].append(index)
        batches = _schedule(groups, self.batch_size, self.settings.effective_workers)

        def decode(batch: tuple[str, int, list[int]]) -> list[WindowText]:
            language, _, indexes = batch
            return self._decoder.decode([windows[i].audio(calls) for i in indexes], language)

        texts: dict[int, WindowText] = {}
        results = self._pool.map(decode, batches)
        for (_, _, indexes), decoded in zip(batches, results, strict=True):
            texts.update(zip(indexes, decoded, strict=True))
        return [texts[i] for i in range(len(windows))]

    def _languages(self, calls: Sequence[CallAudio], windows: Sequence[Window]) -> list[str]:
        if self.settings.language != "auto":
            return [self.settings.language] * len(calls)
        if not self._model.model.is_multilingual:
            return ["en"] * len(calls)
        longest: dict[int, Window] = {}
        for window in windows:
            if window.call not in longest or window.length > longest[window.call].length:
                longest[window.call] = window
        detected = ["en"] * len(calls)
        for call_index, window in longest.items():
            features = self._decoder.features(window.audio(calls))
            language, probability, _ = self._model.detect_language(features=features)
            log.info("%s: language %s (p=%.2f)", calls[call_index].source, language, probability)
            detected[call_index] = language
        return detected

    def _assemble(
        self,
        calls: Sequence[CallAudio],
        windows: Sequence[Window],
        texts: Sequence[WindowText],
        languages: Sequence[str],
        batch_timings: Timings,
    ) -> list[Transcript]:
        words: dict[int, list[TimedWord]] = defaultdict(list)
        for window, text in zip(windows, texts, strict=True):
            for word in text.words:
                piece, start, end = window.locate(word.start, word.end)
                words[piece.call].append(
                    TimedWord(
                        speaker=calls[piece.call].tracks[piece.track].speaker,
                        stretch=piece.start,
                        start=start,
                        end=end,
                        text=word.text,
                        probability=word.probability,
                        no_speech_prob=text.no_speech_prob,
                    )
                )
        total_audio = sum(call.duration for call in calls) or 1.0
        transcripts = []
        for index, call in enumerate(calls):
            segments, dropped = build_segments(words[index], self._hallucinations)
            share = call.duration / total_audio  # batch time split by audio length
            transcripts.append(
                Transcript(
                    segments=segments,
                    duration=round(call.duration, 3),
                    language=languages[index],
                    model=self.settings.model,
                    dropped_hallucinations=dropped,
                    timings=Timings(
                        vad=round(batch_timings.vad * share, 3),
                        recognition=round(batch_timings.recognition * share, 3),
                    ),
                )
            )
        return transcripts


def _schedule(
    groups: dict[tuple[str, int], list[int]], batch_size: int, workers: int
) -> list[tuple[str, int, list[int]]]:
    """Batches of windows of one language and bucket, the costliest first.

    The decoder is much cheaper per window in a batch than alone (6 ms per token step in
    fours against 10 ms alone), so a group is cut into batches as full as ``batch_size``
    allows, and a batch is halved only while, handed out costliest first, the batches
    would leave one worker finishing well after the others.
    """
    batches = [
        (language, bucket, indexes[i : i + batch_size])
        for (language, bucket), indexes in groups.items()
        for i in range(0, len(indexes), batch_size)
    ]
    fair = BALANCE_SLACK * sum(map(_cost, batches)) / workers  # splitting keeps the sum
    while True:
        batches.sort(key=_cost, reverse=True)
        splittable = [batch for batch in batches if len(batch[2]) > 1]
        if _finish(batches, workers) <= fair or not splittable:
            return batches
        language, bucket, indexes = splittable[0]
        batches.remove(splittable[0])
        half = (len(indexes) + 1) // 2
        batches += [(language, bucket, indexes[:half]), (language, bucket, indexes[half:])]


def _finish(batches: Sequence[tuple[str, int, list[int]]], workers: int) -> int:
    """When the last worker finishes, each taking the next batch as soon as it is free."""
    loads = [0] * workers
    for batch in batches:
        loads[loads.index(min(loads))] += _cost(batch)
    return max(loads)


def _cost(batch: tuple[str, int, list[int]]) -> int:
    return batch[1] * len(batch[2])  # samples to encode: a fair proxy for decoding too
