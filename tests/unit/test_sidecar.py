"""Sidecar files: the generic webhook's schema, read from a file, never costing a call."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callscribe.connectors.sources.sidecar import MAX_BYTES, read_sidecar
from callscribe.domain import Direction

GOOD = {
    "id": "crm-42",
    "direction": "outbound",
    "started_at": "2024-11-05T09:17:30+03:00",
    "client_number": "+79991234567",
    "operator": {"id": "101", "name": "Анна"},
    "fields": {"ticket": 512, "tags": ["vip"]},
}


def write(folder: Path, body: bytes | str) -> Path:
    path = folder / "call.json"
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return path


def test_a_valid_sidecar_gives_its_fields_and_keeps_its_keys(tmp_path: Path) -> None:
    sidecar = read_sidecar(write(tmp_path, json.dumps(GOOD, ensure_ascii=False)))
    assert sidecar is not None
    assert sidecar.problems == ()
    assert sidecar.fields == {
        "direction": Direction.OUTBOUND,
        "started_at": datetime(2024, 11, 5, 9, 17, 30, tzinfo=timezone(timedelta(hours=3))),
        "client_number": "+79991234567",
        "operator_id": "101",
        "operator_name": "Анна",
    }
    assert sidecar.raw == GOOD


def test_an_id_is_not_needed(tmp_path: Path) -> None:
    sidecar = read_sidecar(write(tmp_path, '{"client_number": 79991234567}'))
    assert sidecar is not None
    assert (sidecar.fields, sidecar.raw, sidecar.problems) == (
        {"client_number": "79991234567"},
        {"client_number": 79991234567},
        (),
    )


def test_no_sidecar_is_none(tmp_path: Path) -> None:
    assert read_sidecar(tmp_path / "call.json") is None


@pytest.mark.parametrize(
    ("body", "problem", "kept"),
    [
        (b"", "empty the file: expected a JSON object", {}),
        (b"{not json", "the file is not JSON: Expecting property name", {}),
        (b"[1, 2]", "the file must be a JSON object", {}),
        (b'{"a": NaN}', "NaN is not valid JSON", {}),
        (b'{"direction": "inbound", "direction": "outbound"}', "key 'direction' appears twice", {}),
        (b"\xff\xfe{", "the file is not JSON: UnicodeDecodeError", {}),
        (
            b'{"started_at": "2024-11-05T09:17:30", "client_number": "+79991234567"}',
            "started_at: add a UTC offset",
            {"client_number": "+79991234567"},
        ),
        (
            b'{"directon": "inbound", "operator": {"id": "101"}}',
            "unknown keys 'directon' (known: id, direction,",
            {"operator_id": "101"},
        ),
        (
            b'{"direction": "sideways", "operator": {"id": "101", "phone": "1"},'
            b' "line_number": "1"}',
            "direction: Input should be",
            {"line_number": "1"},
        ),
        (
            b'{"recording_url": "https://x/1.wav", "client_number": "+79991234567"}',
            "recording_url: the recording is the file beside it; left out",
            {"client_number": "+79991234567"},
        ),
        (
            b'{"id": {"a": 1}, "client_number": "+79991234567"}',
            "id: expected a string or a number",
            {"client_number": "+79991234567"},
        ),
    ],
)
def test_what_is_wrong_is_said_and_the_rest_kept(
    tmp_path: Path, body: bytes, problem: str, kept: dict[str, object]
) -> None:
    sidecar = read_sidecar(write(tmp_path, body))
    assert sidecar is not None
    assert problem in "; ".join(sidecar.problems)
    assert sidecar.fields == kept


def test_an_oversized_sidecar_is_not_read(tmp_path: Path) -> None:
    sidecar = read_sidecar(write(tmp_path, b'{"fields": "' + b"x" * MAX_BYTES + b'"}'))
    assert sidecar is not None
    assert sidecar.problems == (f"over {MAX_BYTES} bytes; not read",)
    assert sidecar.fields == {}


def test_a_symlinked_sidecar_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.json"
    secret.write_text('{"client_number": "+79991234567"}')
    os.symlink(secret, tmp_path / "call.json")
    sidecar = read_sidecar(tmp_path / "call.json")
    assert sidecar is not None
    assert sidecar.fields == {}
    (problem,) = sidecar.problems
    assert problem.startswith("cannot be read:")
