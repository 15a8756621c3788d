"""Which model, encoder and vocabulary the engine runs, chosen from the settings.

The choices depend on the machine as much as on the settings: OpenVINO's encoder only where
the CPU has AMX (``encoder = "auto"``), decoder batches sized for the memory it takes, and
the Cyrillic copy of the model for a language written in Cyrillic (``vocabulary = "auto"``)
when the model is a multilingual one on disk.  Each choice is logged once at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from callscribe.config import TranscriptionSettings
from callscribe.errors import ModelError
from callscribe.transcription.decoder import WindowDecoder
from callscribe.transcription.models import default_cache_dir, resolve_model
from callscribe.transcription.openvino_cpu import openvino_missing
from callscribe.transcription.openvino_encoder import OpenVinoEncoder, amx_missing
from callscribe.transcription.openvino_vad import run_voice_detector_in_openvino
from callscribe.transcription.vocabulary import CYRILLIC_LANGUAGES, TokenMap, cut_model

log = logging.getLogger(__name__)

MULTILINGUAL_VOCABULARY = 51_865


@dataclass(frozen=True, slots=True)
class LoadedModel:
    whisper: WhisperModel
    decoder: WindowDecoder
    encoder: str  # "openvino" or "ctranslate2"
    vocabulary: str  # "cyrillic" or "full"
    batch_size: int  # decoder batch, settled when the settings leave it to us (0)


def load_model(settings: TranscriptionSettings) -> LoadedModel:
    """Load the model the settings name; :class:`ModelError` says why it cannot be."""
    path = resolve_model(settings.model, settings.model_dir)
    model_path, token_map = _vocabulary(settings, path)
    try:
        whisper = WhisperModel(
            model_path,
            device=settings.device,
            compute_type=settings.effective_compute_type,
            cpu_threads=settings.effective_cpu_threads,
            num_workers=settings.effective_workers,
            local_files_only=model_path != settings.model,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"could not load the model {settings.model!r}: {exc}") from exc
    encoder = _encoder(settings, path)
    decoder = WindowDecoder(
        whisper, beam_size=settings.beam_size, encoder=encoder, token_map=token_map
    )
    return LoadedModel(
        whisper=whisper,
        decoder=decoder,
        encoder="openvino" if encoder else "ctranslate2",
        vocabulary="full" if token_map is None else "cyrillic",
        # OpenVINO's encoder takes about 200 MB of its own; on the AMX CPUs it runs on,
        # batches of two windows were as fast as four and keep six calls under 900 MB.
        batch_size=settings.batch_size or (2 if encoder else 4),
    )


def _local_model(path: str) -> Path | None:
    """The directory of a CTranslate2 model on disk, or None for a hub name."""
    return Path(path) if (Path(path) / "model.bin").is_file() else None


def _vocabulary(settings: TranscriptionSettings, path: str) -> tuple[str, TokenMap | None]:
    """The model to load and, for the Cyrillic cut of its vocabulary, the token map."""
    model_dir = _local_model(path)
    wanted: str = settings.vocabulary
    if wanted == "auto":
        wanted = _automatic_vocabulary(settings.language, model_dir)
    if wanted == "full":
        return path, None
    if model_dir is None:
        raise ModelError(f"vocabulary = 'cyrillic' needs a local model directory, not {path!r}")
    try:
        cut, token_map = cut_model(model_dir, settings.model_dir or default_cache_dir())
    except ModelError as exc:
        if settings.vocabulary != "auto":
            raise
        # A model folder the service may only read: slower, but it works.
        log.warning("vocabulary: full (the Cyrillic cut could not be made: %s)", exc)
        return path, None
    log.info("vocabulary: %s tokens for Cyrillic text (%s)", token_map.size, cut)
    return str(cut), token_map


def _automatic_vocabulary(language: str, model_dir: Path | None) -> str:
    if language not in CYRILLIC_LANGUAGES:
        return "full"
    if model_dir is None:
        why_not = "the model is not on disk"
    elif not _is_multilingual(model_dir):
        why_not = "the model knows one language only"
    else:
        return "cyrillic"
    log.info("vocabulary: full (the Cyrillic cut is not used: %s)", why_not)
    return "full"


def _is_multilingual(model_dir: Path) -> bool:
    # CTranslate2's own test: English-only Whisper models have one token fewer (51,864).
    vocabulary = model_dir / "vocabulary.txt"
    try:
        with vocabulary.open(encoding="utf-8") as lines:
            return sum(1 for _ in lines) >= MULTILINGUAL_VOCABULARY
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {vocabulary}: {exc}") from exc


def _encoder(
    settings: TranscriptionSettings, path: str
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The OpenVINO encoder where the settings ask for it; None keeps CTranslate2's.

    With it, the process's voice detector moves to OpenVINO too (``openvino_vad.py``).
    """
    if settings.encoder == "ctranslate2" or settings.device != "cpu":
        return None
    model_dir = _local_model(path)
    if model_dir is None:
        if settings.encoder == "openvino":
            raise ModelError(f"encoder = 'openvino' needs a local model directory, not {path!r}")
        log.info("encoder: CTranslate2, int8 (OpenVINO not used: the model is not on disk)")
        return None
    if settings.encoder == "auto":
        if (reason := amx_missing() or openvino_missing()) is not None:
            log.info("encoder: CTranslate2, int8 (OpenVINO not used: %s)", reason)
            return None
    elif (reason := amx_missing()) is not None:
        log.warning("encoder = 'openvino' was measured faster only on CPUs with AMX; %s", reason)
    try:
        encoder = OpenVinoEncoder(
            model_dir,
            streams=settings.effective_workers,
            threads_per_stream=settings.effective_cpu_threads,
        )
        run_voice_detector_in_openvino(streams=settings.effective_workers)
    except ModelError as exc:
        if settings.encoder != "auto":
            raise
        log.warning("encoder: CTranslate2, int8 (OpenVINO failed: %s)", exc)
        return None
    log.info("encoder and voice detector: OpenVINO (bfloat16, float32)")
    return encoder
