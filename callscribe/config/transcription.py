"""Settings of the transcription core and of how transcripts are written for people."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from callscribe.config.base import ConfigModel, ConfigPath
from callscribe.config.languages import check_language
from callscribe.domain import Speaker

DEFAULT_HALLUCINATIONS: tuple[str, ...] = (
    # Whisper was trained on subtitled video; on silence, hold music or line noise it
    # "hears" the credits.  These are the Russian ones seen on telephony audio.
    r"продолжение следует",
    r"субтитры (?:сделал|создавал|делал|подогнал|подготовил)\w*\s+\S+",
    r"субтитры\s+\S+\s+(?:dimatorzok|диматорзок)",
    r"(?:dima\s*torzok|диматорзок)",
    r"редактор субтитров\s+[а-я]\.\s*[а-я]+(?:\s+корректор\s+[а-я]\.\s*[а-я]+)?",
    r"корректор\s+[а-я]\.\s*[а-я]+",
    r"спасибо за просмотр",
    r"подписывайтесь на (?:наш )?канал",
    r"ставьте лайки",
    r"благодарю за внимание",
)


class TranscriptionSettings(ConfigModel):
    """How recordings are turned into text."""

    model: str = Field(
        "base",
        description="'base' (bundled, multilingual), 'tiny.en' (bundled with the tiny-en "
        "extra), a directory holding a CTranslate2 Whisper model, or a faster-whisper "
        "hub name such as 'small' (downloaded on first use: needs internet).",
    )
    model_dir: ConfigPath | None = Field(
        None, description="Where bundled models are assembled; default: the user cache."
    )
    language: str = Field("ru", description="Language code such as 'ru', or 'auto'.")
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="Where the model runs: 'cuda' needs an NVIDIA GPU and CUDA libraries."
    )
    compute_type: str | None = Field(
        None, description="CTranslate2 compute type; default int8 on CPU, float16 on CUDA."
    )
    encoder: Literal["auto", "ctranslate2", "openvino"] = Field(
        "auto",
        description="What runs the model's encoder on a CPU: 'ctranslate2' (int8, as the "
        "decoder), 'openvino' (bfloat16, measured faster on CPUs with AMX), or 'auto': "
        "OpenVINO where the CPU has AMX and the openvino package is installed.",
    )
    # On an hour of generated Russian calls the Cyrillic cut was 17 % faster than the full
    # vocabulary at the same WER (18.26 against 18.25 %; docs/benchmarks.md).
    vocabulary: Literal["auto", "full", "cyrillic"] = Field(
        "auto",
        description="Which of the model's tokens the decoder may write: 'full'; 'cyrillic' "
        "(Cyrillic text, digits, punctuation and the common Latin words: faster, but rare "
        "Latin words are spelled in pieces); or 'auto': 'cyrillic' for a language written "
        "in Cyrillic such as 'ru', else 'full'. 'cyrillic' needs a fixed language.",
    )
    cpu_threads: int = Field(
        0, ge=0, description="Threads of each model worker; 0 = cores divided by workers."
    )
    workers: int = Field(
        0,
        ge=0,
        le=16,
        description="Batches recognised at the same time; 0 = one per core, at most four.",
    )
    channels: tuple[Speaker, Speaker] = Field(
        (Speaker.OPERATOR, Speaker.CLIENT),
        description="Who is on the left and on the right channel of a stereo recording.",
    )
    beam_size: int = Field(
        5,
        ge=1,
        le=10,
        description="Beam search width. 5 is the most accurate; 3 is 10-12 % faster for about "
        "0.3 point more word errors on Russian calls; 1 (greedy) is faster still and clearly "
        "worse (docs/benchmarks.md).",
    )
    # Four, not more: on an Intel Xeon with AMX a batch of six took six generated calls to
    # 978 MB resident, over the 900 MB budget, and was no faster.  Two with the OpenVINO
    # encoder, which needs about 200 MB of its own: on the AMX CPUs it is used on, two
    # were as fast as four (docs/benchmarks.md).
    batch_size: int = Field(
        0,
        ge=0,
        le=64,
        description="Speech windows decoded together; 0 = 4, or 2 with the OpenVINO encoder.",
    )
    window_seconds: float = Field(
        20.0,
        ge=5.0,
        # With the second of silence after it and padding to four-second buckets, a
        # window must stay within Whisper's 30 s input.
        le=27.0,
        description="Longest stretch of speech decoded at once (at most 27 s).",
    )
    vad_threshold: float = Field(
        0.35, gt=0.0, lt=1.0, description="Voice detector's speech probability threshold."
    )
    vad_min_silence_ms: int = Field(
        500, ge=100, description="A pause at least this long separates two stretches of speech."
    )
    vad_speech_pad_ms: int = Field(
        600, ge=0, description="Audio kept around each stretch of speech, so no word is clipped."
    )
    max_duration_seconds: float = Field(4 * 3600, gt=0, description="Longest call accepted.")
    max_file_bytes: int = Field(1 << 30, gt=0, description="Largest recording file accepted.")
    hallucination_patterns: tuple[str, ...] = Field(
        DEFAULT_HALLUCINATIONS,
        description="Regular expressions for phrases Whisper invents on silence or music; "
        "matching text is dropped and counted.",
    )

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        return check_language(value)

    @model_validator(mode="after")
    def _vocabulary_needs_a_language(self) -> TranscriptionSettings:
        if self.vocabulary == "cyrillic" and self.language == "auto":
            raise ValueError(
                "vocabulary = 'cyrillic' needs a fixed language such as 'ru': "
                "detecting the language needs the full vocabulary"
            )
        return self

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, value: tuple[Speaker, Speaker]) -> tuple[Speaker, Speaker]:
        if value[0] is value[1]:
            raise ValueError("the left and right channels must be different speakers")
        return value

    def recorded(self) -> dict[str, Any]:
        """The settings that shape what the model writes, as stored with each transcript
        (``calls show`` lists them by version): not threads, workers or limits."""
        shaping = (
            "model", "language", "beam_size", "vocabulary", "window_seconds", "vad_threshold",
            "vad_min_silence_ms", "vad_speech_pad_ms", "encoder", "device",
        )  # fmt: skip
        recorded: dict[str, Any] = self.model_dump(mode="json", include=set(shaping))
        recorded["compute_type"] = self.effective_compute_type
        if self.hallucination_patterns != DEFAULT_HALLUCINATIONS:
            recorded["hallucination_patterns"] = list(self.hallucination_patterns)
        return recorded

    @property
    def effective_compute_type(self) -> str:
        if self.compute_type:
            return self.compute_type
        return "float16" if self.device == "cuda" else "int8"

    @property
    def effective_workers(self) -> int:
        if self.workers:
            return self.workers
        if self.device == "cuda":
            return 1  # a GPU runs one large batch faster than several small ones
        return max(1, min(4, os.cpu_count() or 1))

    @property
    def effective_cpu_threads(self) -> int:
        return self.cpu_threads or max(1, (os.cpu_count() or 1) // self.effective_workers)


class RenderSettings(ConfigModel):
    """How a transcript is written for people."""

    operator_label: str = Field("Оператор", description="Label of the operator's lines.")
    client_label: str = Field("Клиент", description="Label of the client's lines.")
    unknown_label: str = Field(
        "Собеседник", description="Label of lines from mono recordings (speaker unknown)."
    )
    paragraph_pause_seconds: float = Field(
        1.5,
        gt=0,
        description="Mono recordings (one speaker line for both sides): a pause this long "
        "starts a new line of the text transcript, so it reads in paragraphs. Stereo "
        "recordings get one line per turn of each speaker.",
    )

    def label(self, speaker: Speaker) -> str:
        return {
            Speaker.OPERATOR: self.operator_label,
            Speaker.CLIENT: self.client_label,
            Speaker.UNKNOWN: self.unknown_label,
        }[speaker]
