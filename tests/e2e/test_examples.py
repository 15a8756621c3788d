"""The README's way to see the daemon work: ``callscribe run --config
examples/callscribe.toml`` and a recording dropped into the inbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callscribe.testing import Daemon, free_port, running, wait_for
from callscribe.transcription.render import from_json_dict
from tests.groundtruth import assert_heard_as_said
from tests.samples import EXAMPLES, sample_calls

pytestmark = pytest.mark.slow


def test_a_call_dropped_into_the_inbox_lands_in_the_jsonl_file(
    tmp_path: Path, model_dir: Path
) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(EXAMPLES / "callscribe.toml", examples)
    (examples / "inbox").mkdir()
    port = free_port()
    daemon = Daemon(examples / "callscribe.toml", port, model_dir, tmp_path / "daemon.log")
    daemon.env["CALLSCRIBE_DAEMON__LISTEN"] = f"127.0.0.1:{port}"
    archive = examples / "state" / "transcripts.jsonl"
    with running(daemon):
        shutil.copy(EXAMPLES / "call-public-01.wav", examples / "inbox")
        wait_for(archive.exists, 180, f"{archive} (log: {daemon.log})")
        assert daemon.stop() == 0
    (line,) = archive.read_text("utf-8").splitlines()
    document = json.loads(line)
    assert document["call"]["source"] == "inbox"
    truth = next(call for call, path in sample_calls() if path.name == "call-public-01.wav")
    segments = from_json_dict(document["transcript"]).segments
    assert_heard_as_said(truth, segments=segments, dialogue=document["dialogue"])

    # Started again, it scans the inbox anew and does not deliver the same file twice.
    with running(daemon):
        shutil.copy(EXAMPLES / "call-public-01.wav", examples / "inbox" / "again.wav")
        wait_for(lambda: len(archive.read_text("utf-8").splitlines()) == 2, 180, "second call")
    names = [json.loads(x)["call"]["external_id"] for x in archive.read_text().splitlines()]
    assert names[0].startswith("call-public-01.wav@")
    assert names[1].startswith("again.wav@")
