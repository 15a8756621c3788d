"""Batched Whisper decoding of speech windows, with word timings.

This talks to faster-whisper's CTranslate2 model directly rather than through
``WhisperModel.transcribe``: windows of several tracks and calls share one batch, inputs
are not padded to 30 s (see ``windows.py``), and the number of real frames handed to the
aligner is exact (``BatchedInferencePipeline`` rounds it up, which reads past the encoder
output on short inputs and corrupts memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations

from .vocabulary import TokenMap

TRAILING_SILENCE = 16_000  # samples (one second) of silence after every window's speech
# Whisper's encoder attends over the whole input, padding included, so a window's text
# depends on how much padding it gets.  Padding every window to a fixed bucket size of its
# own (never to the longest window of its batch) makes the text of a call independent of
# which other calls happen to share its batches.  Only windows of one size share a batch,
# and the decoder is far cheaper per window in batches of several (10 ms per token alone,
# 6 ms in fours), so coarse buckets pay: four-second buckets against two decoded the
# shared samples 15 % faster, while on an hour of generated calls WER went from 18.5 % to
# 18.0 % and the time up by 7 % (more padding, batches already full).
BUCKET = 64_000  # samples: windows are padded to a multiple of four seconds
MAX_TOKENS = 440  # the decoder's context is 448 tokens, the prompt takes four
PREPEND_PUNCTUATION = "\"'“¿([{-«"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、»…"
SECONDS_PER_ENCODER_FRAME = 0.02
HOP = 160  # samples per mel frame


def bucket_size(samples: int) -> int:
    """Samples a window of this length is padded to (a whole number of buckets)."""
    return -(-(samples + TRAILING_SILENCE) // BUCKET) * BUCKET


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the window
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class WindowText:
    """What Whisper heard in one window."""

    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    tokens: int  # text tokens generated


class WindowDecoder:
    """Turns batches of 16 kHz windows into timed words; no state between batches."""

    def __init__(
        self,
        model: WhisperModel,
        *,
        beam_size: int,
        encoder: Callable[[np.ndarray], np.ndarray] | None = None,
        token_map: TokenMap | None = None,
    ) -> None:
        """``encoder`` replaces CTranslate2's on a CPU: one window's features to its output.
        ``token_map`` is given with a model whose vocabulary was cut (``vocabulary.py``):
        the tokenizer speaks the full vocabulary's ids, the model the cut one's."""
        self._model = model
        self._beam_size = beam_size
        self._encoder = encoder or self._ctranslate2_encoder
        self._tokens = token_map if token_map is not None else TokenMap()
        self._tokenizers: dict[str, Tokenizer] = {}

    def tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            # CTranslate2 tells multilingual models by their vocabulary's size, which a cut
            # vocabulary no longer has.
            multilingual = self._tokens.is_cut or bool(self._model.model.is_multilingual)
            self._tokenizers[language] = Tokenizer(
                self._model.hf_tokenizer,
                multilingual,
                task="transcribe",
                language=language if multilingual else "en",
            )
        return self._tokenizers[language]

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel features of a window padded with silence to its bucket size.

        Without a pause after the last word Whisper decodes as if speech went on and
        tends to say the last sentence again; the padding always includes one second.
        The extractor appends one frame past the end of the audio; it is dropped, as
        faster-whisper does.
        """
        padded = np.zeros(bucket_size(len(audio)), dtype=np.float32)
        padded[: len(audio)] = audio
        features: np.ndarray = self._model.feature_extractor(padded)[..., :-1]
        return features

    def _encode(
        self, features: Sequence[np.ndarray]
    ) -> tuple[ctranslate2.StorageView, ctranslate2.StorageView | list[ctranslate2.StorageView]]:
        """Encoder output of a batch of same-size features: the batch, for the decoder, and
        what the aligner gets (on a CPU each window's own output, see ``_align``).

        On a CPU one window at a time is faster (0.35 s against 0.58 s for four 22 s
        windows: a window's activations stay in cache) and needs a quarter of the memory
        for attention scores; the outputs are identical, and the decoder still gets
        them as one batch.  A GPU wants the whole batch at once.
        """
        if self._model.model.device != "cpu":
            batch = self._model.encode(np.ascontiguousarray(np.stack(features)))
            return batch, batch
        each = [self._encoder(f) for f in features]
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(each)))
        return batch, [ctranslate2.StorageView.from_array(window) for window in each]

    def _ctranslate2_encoder(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.encode(features[np.newaxis]))

    def _align(
        self,
        encoded: ctranslate2.StorageView | list[ctranslate2.StorageView],
        prompt: list[int],
        texts: list[list[int]],
        frames: list[int],
    ) -> list[Any]:
        """Word alignments of the whole batch, or window by window given a list.

        The aligner keeps every layer's cross-attention of what it is given: on eight 20 s
        windows at once it raised the peak by 140-190 MB per worker, window by window by
        nothing measurable, in the same time (0.39 s against 0.43 s).
        """
        if not isinstance(encoded, list):
            return list(
                self._model.model.align(encoded, prompt, texts, frames, median_filter_width=7)
            )
        return [
            self._model.model.align(window, prompt, [text], [length], median_filter_width=7)[0]
            for window, text, length in zip(encoded, texts, frames, strict=True)
        ]

    def decode(self, audios: Sequence[np.ndarray], language: str) -> list[WindowText]:
        """Decode one batch of windows of one bucket size, all in one language."""
        features = [self.features(audio) for audio in audios]
        if len({f.shape[-1] for f in features}) != 1:
            raise ValueError("a batch holds windows of one bucket size only")
        # The aligner looks at the frames holding speech and the pause after it.
        frames = [-(-(len(audio) + TRAILING_SILENCE) // HOP) for audio in audios]
        encoded, to_align = self._encode(features)
        tokenizer = self.tokenizer(language)
        tokens = self._tokens
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        generated = self._model.model.generate(
            encoded,
            [tokens.to_model(prompt)] * len(features),
            beam_size=self._beam_size,
            max_length=MAX_TOKENS + len(prompt),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=tokens.kept_of(list(get_suppressed_tokens(tokenizer, (-1,)))),
        )
        texts = [
            [t for t in tokens.to_original(result.sequences_ids[0]) if t < tokenizer.eot]
            for result in generated
        ]
        alignments = self._align(
            to_align,
            tokens.to_model(list(tokenizer.sot_sequence)),
            [tokens.to_model(text) for text in texts],
            frames,
        )
        return [
            WindowText(
                words=tuple(_words(tokenizer, text, alignment)) if text else (),
                avg_logprob=_avg_logprob(result),
                no_speech_prob=float(result.no_speech_prob),
                tokens=len(text),
            )
            for text, result, alignment in zip(texts, generated, alignments, strict=True)
        ]


def _avg_logprob(result: Any) -> float:
    # CTranslate2 returns the length-normalised score; undo it as faster-whisper does.
    length = len(result.sequences_ids[0])
    return float(result.scores[0]) * length / (length + 1)


def _words(tokenizer: Tokenizer, tokens: list[int], alignment: Any) -> list[Word]:
    """Word timings from the cross-attention alignment (after faster-whisper)."""
    words, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    if len(word_tokens) <= 1:
        return []
    text_indices = np.array([pair[0] for pair in alignment.alignments])
    time_indices = np.array([pair[1] for pair in alignment.alignments])
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] * SECONDS_PER_ENCODER_FRAME
    probabilities = alignment.text_token_probs
    timed = [
        {
            "word": word,
            "tokens": tokens_of_word,
            "start": float(jump_times[begin]),
            "end": float(jump_times[finish]),
            "probability": float(np.mean(probabilities[begin:finish])) if finish > begin else 0.0,
        }
        for word, tokens_of_word, begin, finish in zip(
            words, word_tokens, boundaries[:-1], boundaries[1:], strict=False
        )
    ]
    merge_punctuations(timed, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
    return [
        Word(item["word"], item["start"], item["end"], item["probability"])
        for item in timed
        if item["word"].strip()
    ]
