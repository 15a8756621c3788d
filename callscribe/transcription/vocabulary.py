"""Whisper with its vocabulary cut down to the tokens Russian text is written with.

Why: a step of beam search multiplies every hypothesis by the 51,865 x 512 output
projection, more than half of the decoder's weights.  Russian speech never needs most of
it: of the tokens, 38,621 are Latin-script pieces and 7,184 are CJK, Arabic, Greek...
``vocabulary = "cyrillic"`` (the default for Russian, through ``"auto"``) decodes with a
copy of the model whose embedding matrix keeps 22,136 rows: the tokens made of Cyrillic
letters, digits, punctuation and spaces; the Latin pieces of one or two letters (so a
spelled "Q" stays "Q"); the Latin pieces among the 20,000 most frequent tokens (so "Linux",
"email" or "www" come out whole); all 256 single bytes (so any text can still be spelled)
and every special token.  On an hour of generated calls that is 17 % faster than the full
vocabulary at the same WER (docs/benchmarks.md).

The copy is made once, next to the model cache; the tokenizer stays the original one, and
:class:`TokenMap` translates token ids between the two at the decoder's edges.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

from callscribe.errors import ModelError

from .ct2_weights import ModelFile, read_model, write_model
from .lookalikes import is_cyrillic

log = logging.getLogger(__name__)

FIRST_SPECIAL = "<|endoftext|>"  # every token from here on is special, and all are kept
KEEP_FILE = "keep_ids.json"
SOURCE_FILE = "source.txt"  # the model folder a copy was cut from
# Languages written in Cyrillic, for which ``vocabulary = "auto"`` cuts (measured on Russian).
CYRILLIC_LANGUAGES = frozenset({"ba", "be", "bg", "kk", "mk", "mn", "ru", "tg", "tt", "uk"})
REVISION = 3  # bump when the selection rule changes, so old copies are rebuilt
# Against the full vocabulary on an hour of generated calls: without any Latin pieces,
# spelled letters came out as «кю», «зет» (+1.2 points of WER); single letters alone made it
# worse (+2.5: Latin letters crept into Russian words); pieces of up to two letters +0.4
# («линукс» for "Linux"); with the Latin pieces among the first 5,000 tokens too +0.2,
# 10,000 +0.3, 20,000 +0.0, at the same speed as the smallest cut.
LATIN_LETTERS = 2
# Byte-pair merges are numbered in the order they were learnt, most frequent first.
COMMON_TOKENS = 20_000
# Lead bytes of UTF-8 characters a cut token may start or end in the middle of: Cyrillic
# (U+0400-U+052F) and the punctuation blocks (« », — …, №).
_PARTIAL_LEADS = frozenset({0xC2, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xE2})


class TokenMap:
    """Token ids of the full vocabulary against those of the model (the same when uncut)."""

    def __init__(self, kept: np.ndarray | None = None) -> None:
        self._to_original = None if kept is None else kept.astype(np.int64)
        self._to_model = None if kept is None else {int(t): i for i, t in enumerate(kept)}

    @property
    def is_cut(self) -> bool:
        return self._to_model is not None

    @property
    def size(self) -> int | None:
        """Tokens the model has, or None when it has the whole vocabulary."""
        return None if self._to_original is None else len(self._to_original)

    def to_model(self, tokens: list[int]) -> list[int]:
        """Original ids to the model's; every one must be kept (prompts, text)."""
        if self._to_model is None:
            return list(tokens)
        return [self._to_model[token] for token in tokens]

    def kept_of(self, tokens: list[int]) -> list[int]:
        """The model's ids of those original ids it has (suppression lists)."""
        if self._to_model is None:
            return list(tokens)
        return [self._to_model[token] for token in tokens if token in self._to_model]

    def to_original(self, tokens: list[int]) -> list[int]:
        if self._to_original is None:
            return list(tokens)
        return [int(self._to_original[token]) for token in tokens]


def cut_model(source: Path, cache: Path) -> tuple[Path, TokenMap]:
    """The Cyrillic copy of the CTranslate2 model in ``source`` (made on first use)."""
    weights = source / "model.bin"
    try:
        stat = weights.stat()
    except OSError as exc:
        raise ModelError(f"cannot read the model weights {weights}: {exc}") from exc
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{REVISION}"
    target = cache / f"{source.name}-cyrillic-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if not (target / KEEP_FILE).is_file():
        _build(source, target)
    try:
        kept = np.array(json.loads((target / KEEP_FILE).read_text()), dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"the Cyrillic copy of the model in {target} is damaged ({exc}); "
            "delete that folder and it is made again"
        ) from exc
    return target, TokenMap(kept)


def cyrillic_tokens(vocabulary: list[str]) -> np.ndarray:
    """Ids of the tokens to keep, in order, from CTranslate2's ``vocabulary.txt`` lines."""
    try:
        first_special = vocabulary.index(FIRST_SPECIAL)
    except ValueError as exc:
        raise ModelError(f"not a Whisper vocabulary: no {FIRST_SPECIAL} token") from exc
    to_byte = _byte_decoder()
    kept = [
        index
        for index, token in enumerate(vocabulary[:first_special])
        if _is_kept_piece(bytes(to_byte[char] for char in token), common=index < COMMON_TOKENS)
    ]
    return np.array(kept + list(range(first_special, len(vocabulary))), dtype=np.int64)


def _is_kept_piece(piece: bytes, *, common: bool) -> bool:
    if len(piece) == 1:
        return True
    text = piece.decode("utf-8", errors="ignore")
    whole = len(text.encode("utf-8")) == len(piece)
    if whole and text.isascii():
        return common or sum(char.isalpha() for char in text) <= LATIN_LETTERS
    if not whole and not _partial_edges_allowed(piece):
        return False
    return all(is_cyrillic(char) or not unicodedata.category(char).startswith("L") for char in text)


def _partial_edges_allowed(piece: bytes) -> bool:
    # A token cut inside a character: allowed when the broken character can only be
    # Cyrillic or punctuation (its lead byte), or is a run of continuation bytes.
    leads = [byte for byte in piece if byte >= 0xC0]
    return all(byte in _PARTIAL_LEADS for byte in leads)


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the character each byte is written as, reversed."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


def _build(source: Path, target: Path) -> None:
    vocabulary_file = source / "vocabulary.txt"
    try:
        vocabulary = vocabulary_file.read_text(encoding="utf-8").splitlines()
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot cut the vocabulary of {source}: {exc}") from exc
    kept = cyrillic_tokens(vocabulary)
    model = read_model(source / "model.bin")
    tensors = {
        name: array[kept] if _is_vocabulary_matrix(name, array, len(vocabulary)) else array
        for name, array in model.tensors.items()
    }
    if all(tensors[name] is model.tensors[name] for name in tensors):
        raise ModelError(f"{source}: no embedding matrix of {len(vocabulary)} rows to cut")
    position = {int(token): index for index, token in enumerate(kept)}
    for key in ("lang_ids", "suppress_ids", "suppress_ids_begin"):
        if isinstance(config.get(key), list):
            config[key] = [position[token] for token in config[key] if token in position]
    staging: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        for item in source.iterdir():
            if item.is_file() and item.name not in {"model.bin", "vocabulary.txt", "config.json"}:
                shutil.copy2(item, staging / item.name)
        write_model(
            staging / "model.bin",
            ModelFile(model.version, model.spec, model.revision, tensors, model.aliases),
        )
        lines = [vocabulary[token] for token in kept]
        (staging / "vocabulary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (staging / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (staging / SOURCE_FILE).write_text(str(source.resolve()), encoding="utf-8")
        (staging / KEEP_FILE).write_text(json.dumps(kept.tolist()), encoding="utf-8")
        os.replace(staging, target)  # another process may have won: its copy is the same
        log.info("cut %s to %d Cyrillic tokens in %s", source, len(kept), target)
        _remove_older_copies(source, target)
    except OSError as exc:
        if not (target / KEEP_FILE).is_file():
            raise ModelError(f"cannot write the Cyrillic model to {target}: {exc}") from exc
    finally:
        if staging is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(staging)


def _remove_older_copies(source: Path, target: Path) -> None:
    """Delete the copies this one replaces (an older rule, or an older ``model.bin``), so
    each upgrade does not leave 100 MB behind in the model cache.  A copy names its source;
    one made before copies did so is from an older callscribe and goes too."""
    ours = str(source.resolve())
    for copy in target.parent.glob(f"{source.name}-cyrillic-*"):
        if copy == target or not (copy / KEEP_FILE).is_file():
            continue  # the new copy, or another process's staging folder
        try:
            origin = (copy / SOURCE_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            origin = ours
        except OSError:
            continue
        if origin == ours:
            shutil.rmtree(copy, ignore_errors=True)
            log.info("removed %s, an older Cyrillic copy of %s", copy, source)


def _is_vocabulary_matrix(name: str, array: np.ndarray, size: int) -> bool:
    embedding = name.startswith(("decoder/embeddings/", "decoder/projection/"))
    return embedding and array.ndim >= 1 and array.shape[0] == size
