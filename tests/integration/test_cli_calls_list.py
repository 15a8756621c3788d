"""``callscribe calls list`` with its filters and formats, ``calls export`` and the
versions ``calls show`` lists, on a real database (the world of test_cli_admin)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from callscribe.config import RenderSettings
from callscribe.transcription.render import render
from tests.integration.test_cli_admin import MASKED, World, world
from tests.integration.test_retention import CLIENT, transcript

__all__ = ["world"]  # the fixture


def _redo(world: World, call_id: int, text: str) -> None:
    store = world.store
    run = store.start_retranscribe(f"redo-{call_id}", {}, "small", [call_id]).id
    store.claim_retranscribe(run, "w", 60.0, 1)
    again = dataclasses.replace(transcript(text), model="small")
    store.save_retranscription(run, call_id, "w", again, settings={"beam_size": 3})


def test_list_filters_by_number_text_and_operator(world: World) -> None:
    delivered = world.ids["delivered"]
    code, out, _ = world.run("calls", "list", "--text", "НОМЕР ДОГОВОРА")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(delivered)]
    _, out, _ = world.run("calls", "list", "--number", "8 (900) 123-45-67", "--state", "done")
    assert {line.split()[0] for line in out.splitlines()[1:]} == {
        str(world.ids[name]) for name in ("delivered", "dead", "missed")
    }  # fmt: skip
    _, out, _ = world.run("calls", "list", "--number", "+79990000000")
    assert out == "no calls matching the filters\n"
    _, out, _ = world.run("calls", "list", "--operator", "101", "--source", "office")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(world.ids["queued"])]
    _, out, _ = world.run("calls", "list", "--since", "2024-05-02")
    assert out == "no calls matching the filters\n"
    _, out, _ = world.run("calls", "list", "--until", "2024-05-01", "--limit", "2")
    assert len(out.splitlines()) == 3


def test_list_as_json_and_csv_masks_numbers(world: World) -> None:
    code, out, _ = world.run("calls", "list", "--format", "json", "--state", "done")
    records = json.loads(out)
    assert code == 0
    assert {r["id"] for r in records} == {world.ids[n] for n in ("delivered", "dead", "missed")}
    assert {r["client_number"] for r in records} == {MASKED}
    assert CLIENT not in out
    by_id = {r["id"]: r for r in records}
    assert by_id[world.ids["delivered"]]["duration"] == 205.0
    assert by_id[world.ids["delivered"]]["started_at"] == "2024-05-01T14:59:00+03:00"

    _, out, _ = world.run("calls", "--format", "csv", "--show-numbers", "--state", "failed")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {int(r["id"]) for r in rows} == {
        world.ids["fetch_failed"],
        world.ids["transcribe_failed"],
    }
    assert {r["client_number"] for r in rows} == {CLIENT}
    assert any("403 Forbidden" in r["note"] for r in rows)


def test_show_lists_versions_and_export_writes_any_of_them(world: World, tmp_path: Path) -> None:
    call_id = world.ids["delivered"]
    _redo(world, call_id, "Исправленный текст.")

    code, out, _ = world.run("calls", "show", str(call_id))
    assert code == 0
    versions = out.split("Transcript versions:\n")[1].split("\n\n")[0].splitlines()
    assert versions[0].split()[:5] == ["VERSION", "MADE", "MODEL", "LANGUAGE", "SETTINGS"]
    assert versions[1].split()[0] == "1"
    assert "(before versions were kept)" not in versions[1]  # recorded, with no settings
    assert versions[2].split()[:2] == ["2", "(current)"]
    assert versions[2].split()[-3:] == ["small", "ru", "beam_size=3"]
    assert "Transcript (3:25, ru, version 2):" in out
    _, out, _ = world.run("calls", "show", str(call_id), "--format", "json")
    assert [(v["version"], v["model"]) for v in json.loads(out)["versions"]] == [
        (1, "base"), (2, "small"),
    ]  # fmt: skip

    code, out, _ = world.run("calls", "export", str(call_id), "--version", "1", "--format", "srt")
    masked_first = transcript("Номер договора * (***) ***-45-67.")
    assert (code, out) == (0, render(masked_first, "srt", RenderSettings()))

    folder = tmp_path / "out"
    ids = [str(call_id), str(world.ids["dead"])]
    code, out, _ = world.run("calls", "export", *ids, "--output", str(folder), "--format", "json")
    assert code == 0
    written = json.loads((folder / f"call-{call_id}.json").read_text("utf-8"))
    assert written["segments"][1]["text"] == "Исправленный текст."
    assert written["source"] == f"callscribe call {call_id}"
    assert (folder / f"call-{world.ids['dead']}.json").is_file()
    code, _, err = world.run("calls", "export", *ids, "--output", str(folder), "--format", "json")
    assert code == 2
    assert "--force" in err


def test_export_says_what_it_cannot_write(world: World) -> None:
    code, out, err = world.run(
        "calls", "export", str(world.ids["missed"]), "999", str(world.ids["dead"])
    )
    assert code == 1
    assert f"call {world.ids['missed']} has no transcript" in err
    assert "no call with id 999" in err
    assert f"==> call {world.ids['dead']} <==" in out
    code, _, err = world.run("calls", "export", str(world.ids["dead"]), "--version", "3")
    assert code == 1
    assert "has no transcript version 3" in err
