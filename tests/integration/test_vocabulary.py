"""The Cyrillic cut of the model's vocabulary: which tokens it keeps, and that it decodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from callscribe.config import TranscriptionSettings
from callscribe.errors import ModelError
from callscribe.transcription import vocabulary as vocabulary_module
from callscribe.transcription.accuracy import score, turns_of
from callscribe.transcription.audio import decode_file
from callscribe.transcription.ct2_weights import read_weights
from callscribe.transcription.engine import Engine
from callscribe.transcription.loading import load_model
from callscribe.transcription.models import resolve_model
from callscribe.transcription.vocabulary import (
    FIRST_SPECIAL,
    TokenMap,
    _byte_decoder,
    cut_model,
    cyrillic_tokens,
)
from tests.samples import sample_calls

pytestmark = pytest.mark.slow


def _token(text: str) -> str:
    """``text`` as a GPT-2 byte-level vocabulary entry (each byte written as one character)."""
    to_char = {byte: char for char, byte in _byte_decoder().items()}
    return "".join(to_char[byte] for byte in text.encode())


def test_keeps_cyrillic_digits_punctuation_latin_bytes_and_specials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vocabulary_module, "COMMON_TOKENS", 3)
    vocabulary = [
        _token("a"),  # a single byte: kept, so anything can still be spelled
        _token(" привет"),
        _token(" hello"),  # a common Latin piece (among the first COMMON_TOKENS): kept whole
        _token("42"),
        _token("«"),
        _token("héllo"),
        _token("при")[:-1],  # ends inside a Cyrillic character
        _token("日本"),
        _token(" Q"),  # Latin pieces of one or two letters: a spelled letter stays Latin
        _token("ok."),
        _token(" www"),  # a rarer Latin piece of three letters: spelled from shorter ones
        _token("é")[:-1] + _token("ab"),  # ends inside a non-Cyrillic character
        FIRST_SPECIAL,
        "<|ru|>",
    ]
    assert cyrillic_tokens(vocabulary).tolist() == [0, 1, 2, 3, 4, 6, 8, 9, 12, 13]


def test_a_vocabulary_without_special_tokens_is_refused() -> None:
    with pytest.raises(ModelError, match="not a Whisper vocabulary"):
        cyrillic_tokens(["a", "b"])


def test_token_map_translates_both_ways() -> None:
    tokens = TokenMap(np.array([3, 7, 50257]))
    assert tokens.to_model([7, 50257]) == [1, 2]
    assert tokens.to_original([2, 0]) == [50257, 3]
    assert tokens.kept_of([1, 3, 8]) == [0]
    assert TokenMap().to_model([5, 9]) == [5, 9]
    assert not TokenMap().is_cut


@pytest.fixture(scope="module")
def full_model(model_dir: Path) -> Path:
    return Path(resolve_model("base", model_dir))


def test_the_cut_model_has_only_the_kept_rows(full_model: Path, tmp_path: Path) -> None:
    cut, tokens = cut_model(full_model, tmp_path)
    vocabulary = (cut / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    embeddings = read_weights(cut / "model.bin", "decoder/embeddings/")
    assert embeddings["decoder/embeddings/weight"].shape == (tokens.size, 512)
    assert len(vocabulary) == tokens.size
    assert tokens.size is not None
    assert 20_000 < tokens.size < 25_000  # of 51,865
    config = json.loads((cut / "config.json").read_text())
    assert max(config["lang_ids"]) < tokens.size
    # Made once: a second call finds it.
    assert cut_model(full_model, tmp_path)[0] == cut


def test_a_new_copy_removes_the_ones_it_replaces(full_model: Path, tmp_path: Path) -> None:
    older = tmp_path / f"{full_model.name}-cyrillic-0123456789ab"  # an older callscribe's
    other = tmp_path / f"{full_model.name}-cyrillic-ba9876543210"  # another model folder's
    for copy in (older, other):
        copy.mkdir()
        (copy / "keep_ids.json").write_text("[0]")
    (other / "source.txt").write_text("/srv/models/base")
    cut, _ = cut_model(full_model, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([cut.name, other.name])


def test_a_damaged_copy_names_the_folder(full_model: Path, tmp_path: Path) -> None:
    cut, _ = cut_model(full_model, tmp_path)
    (cut / "keep_ids.json").write_text("[1, 2")
    with pytest.raises(ModelError, match=r"is damaged.*delete that folder"):
        cut_model(full_model, tmp_path)


def test_a_model_that_is_not_whisper_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "model.bin").write_bytes(b"\x06\x00\x00\x00")
    (source / "vocabulary.txt").write_text("a\nb\n")
    (source / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="not a Whisper vocabulary"):
        cut_model(source, tmp_path / "cache")


@pytest.mark.parametrize(
    ("model", "language", "cut"),
    [("base", "ru", True), ("base", "uk", True), ("base", "en", False), ("base", "auto", False)],
)
def test_auto_cuts_for_a_cyrillic_language_on_a_multilingual_model(
    model_dir: Path, model: str, language: str, cut: bool
) -> None:
    settings = TranscriptionSettings(model=model, model_dir=model_dir, language=language)
    assert load_model(settings).vocabulary == ("cyrillic" if cut else "full")


def test_auto_falls_back_to_the_full_vocabulary_where_the_cut_cannot_be_written(
    full_model: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    unwritable = blocker / "models"  # under a regular file: no folder can be made there
    auto = TranscriptionSettings(model=str(full_model), model_dir=unwritable)
    assert load_model(auto).vocabulary == "full"
    asked = TranscriptionSettings(
        model=str(full_model), model_dir=unwritable, vocabulary="cyrillic"
    )
    with pytest.raises(ModelError, match="cannot write the Cyrillic model"):
        load_model(asked)


def test_auto_keeps_the_full_vocabulary_of_an_english_only_model(model_dir: Path) -> None:
    if not (Path(resolve_model("tiny.en", model_dir)) / "model.bin").is_file():
        pytest.skip("the tiny-en extra is not installed")
    settings = TranscriptionSettings(model="tiny.en", model_dir=model_dir, language="ru")
    assert load_model(settings).vocabulary == "full"


def test_cyrillic_needs_a_fixed_language() -> None:
    with pytest.raises(ValueError, match="needs a fixed language"):
        TranscriptionSettings(vocabulary="cyrillic", language="auto")


def test_the_cut_model_transcribes_a_sample_call(model_dir: Path) -> None:
    call, path = sample_calls()[0]
    engine = Engine(TranscriptionSettings(model_dir=model_dir, vocabulary="cyrillic"))
    transcript = engine.transcribe(decode_file(path))
    assert score(turns_of(call), transcript.segments).wer <= 0.25
    letters = {c for s in transcript.segments for c in s.text if c.isalpha()}
    assert all("\u0400" <= c <= "\u04ff" or c.isascii() for c in letters), letters
