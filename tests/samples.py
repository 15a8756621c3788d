"""The ground-truth sample calls kept in the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SAMPLES = DATA / "samples"
EXAMPLES = Path(__file__).parent.parent / "examples"


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / "manifest.json").read_text("utf-8"))
    return loaded


def sample_calls() -> list[tuple[dict[str, Any], Path]]:
    """Every ground-truth call whose recording is in the repository."""
    found = []
    for call in manifest()["calls"]:
        for folder in (SAMPLES, EXAMPLES):
            if (folder / call["wav"]).exists():
                found.append((call, folder / call["wav"]))
                break
    return found
