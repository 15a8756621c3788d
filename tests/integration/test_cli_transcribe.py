"""``callscribe transcribe`` end to end: real files, real model, real output files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callscribe.cli import main
from callscribe.transcription.subtitles import MAX_CUE_SECONDS, MAX_LINE_CHARS, MAX_LINES
from tests.groundtruth import assert_heard_as_said
from tests.samples import EXAMPLES, SAMPLES

pytestmark = pytest.mark.slow

EXAMPLE = EXAMPLES / "call-public-01.wav"


def test_one_file_prints_the_dialogue(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(EXAMPLE), "--model-dir", str(model_dir)]) == 0
    truth = json.loads((EXAMPLES / "call-public-01.json").read_text("utf-8"))["calls"][0]
    assert_heard_as_said(truth, dialogue=capsys.readouterr().out)


def test_subtitles_of_a_real_call_follow_the_guidelines(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(EXAMPLE), "--format", "srt", "--model-dir", str(model_dir)]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    for number, block in enumerate(blocks, start=1):
        index, times, *lines = block.split("\n")
        assert index == str(number)
        start, end = (_seconds(stamp) for stamp in times.split(" --> "))
        assert 0 < end - start <= MAX_CUE_SECONDS + 0.001, block
        assert 1 <= len(lines) <= MAX_LINES, block
        assert all(len(line) <= MAX_LINE_CHARS for line in lines), block
    assert len(blocks) > 11  # the long turn (31 s) is several cues


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))


def test_several_files_with_output_dir_and_one_bad_file(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SAMPLES / "call-public-00.wav", inbox / "first.wav")
    (inbox / "broken.wav").write_bytes(b"<!DOCTYPE html><html>404 Not Found</html>")
    shutil.copy(SAMPLES / "call-public-02.wav", inbox / "second.wav")
    out = tmp_path / "out"
    code = main(
        [
            "transcribe",
            *(str(inbox / n) for n in ("first.wav", "broken.wav", "second.wav")),
            "--format",
            "json",
            "--output",
            str(out),
            "--model-dir",
            str(model_dir),
            "--no-progress",
        ]
    )
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["first.json", "second.json"]
    for name in ("first.json", "second.json"):
        document = json.loads((out / name).read_text("utf-8"))
        assert {s["speaker"] for s in document["segments"]} == {"operator", "client"}
    errors = capsys.readouterr().err.splitlines()
    assert any("broken.wav" in line and "HTML" in line for line in errors), errors
    assert errors[-1] == "callscribe: 1 of 3 files failed"


def test_swapped_channels_swap_the_speakers(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["transcribe", str(SAMPLES / "call-public-00.wav"), "--model-dir", str(model_dir)]
    assert main([*args, "--channels", "client,operator", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["segments"][0]["speaker"] == "client"


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--language", "russian"], "--language"),
        (["--channels", "operator,operator"], "channel"),
        (["--model", "no-such-model"], "no-such-model"),
    ],
)
def test_bad_options_are_explained(
    model_dir: Path, extra: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(EXAMPLE), "--model-dir", str(model_dir), *extra]) == 2
    assert complaint in capsys.readouterr().err
