"""Progress in seconds of audio: a bar on a terminal, plain timed lines in a log, nothing
when quiet; and C libraries' stderr chatter turned into log records."""

from __future__ import annotations

import io
import logging
import os
import sys

import pytest

from callscribe.cli.progress import DAYS, Progress, clock
from callscribe.native_stderr import native_stderr_to_log


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_plain_line_every_interval_and_at_the_end() -> None:
    stream, time = io.StringIO(), FakeClock()
    progress = Progress("import", 3600.0, 4, stream=stream, every=30.0, clock=time)
    time.now += 10
    progress.advance(1800.0)  # 10 s in: no line yet
    assert stream.getvalue() == ""
    time.now += 30
    progress.advance(600.0)
    time.now += 5
    progress.advance(600.0)  # 5 s after the last line: none
    time.now += 10
    progress.advance(600.0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "import: 2 of 4, 40:00 of 1:00:00 of audio, ×60.0 real time, about 0:20 left",
        "import: 4 of 4, 1:00:00 of 1:00:00 of audio, ×65.5 real time",
    ]
    assert not any(c in stream.getvalue() for c in "\r\x1b")


def test_the_time_left_follows_audio_not_files() -> None:
    time = FakeClock()
    progress = Progress("t", 1000.0, 3, stream=io.StringIO(), clock=time)
    time.now += 10
    progress.advance(900.0)  # one long file: 90 % of the audio in 10 s
    assert progress.speed == pytest.approx(90.0)
    assert progress.summary().endswith("about 0:01 left")


def test_quiet_says_nothing() -> None:
    stream, time = io.StringIO(), FakeClock()
    progress = Progress("t", 100.0, 2, quiet=True, stream=stream, every=0.0, clock=time)
    time.now += 1
    progress.advance(50.0)
    progress.close()
    assert stream.getvalue() == ""


def test_on_a_terminal_a_bar_counting_audio() -> None:
    terminal = Terminal()
    progress = Progress("transcribe", 120.0, 2, stream=terminal)
    progress.advance(60.0)
    progress.write("a line of output", file=terminal)
    progress.close()
    shown = terminal.getvalue()
    assert "\r" in shown
    assert "a line of output" in shown
    assert "1 of 2, 1:00 of 2:00 of audio" in shown


def test_clock() -> None:
    assert [clock(s) for s in (0, 59.6, 61, 3599, 3600, 36000)] == [
        "0:00",
        "1:00",
        "1:01",
        "59:59",
        "1:00:00",
        "10:00:00",
    ]


def test_native_stderr_becomes_log_records(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="callscribe.native")
    with native_stderr_to_log():
        os.write(2, b"[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length\n")
        os.write(2, b"something else went wrong\n")
        print("python's own stderr", file=sys.stderr)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (
        logging.DEBUG,
        "[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length",
    ) in records
    assert (logging.WARNING, "something else went wrong") in records
    err = capfd.readouterr().err
    assert "python's own stderr" in err
    assert not any(line.startswith("[src/libmpg123") for line in err.splitlines())  # not raw
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_days_with_a_note_and_skipped_days_out_of_the_total() -> None:
    stream, time = io.StringIO(), FakeClock()
    progress = Progress("backfill uis", 10, unit=DAYS, stream=stream, every=30.0, clock=time)
    progress.skip(4)  # finished by an earlier backfill: not part of the time left
    time.now += 20
    progress.note("12 calls (12 new, 0 already known), 9 with a recording")
    progress.advance(2, items=0)
    time.now += 20
    progress.advance(1, items=0)
    time.now += 10
    progress.advance(3, items=0)
    progress.close()
    assert stream.getvalue().splitlines() == [
        "backfill uis: 3 of 6 days, 12 calls (12 new, 0 already known), 9 with a recording, "
        "about 0:40 left",
        "backfill uis: 6 of 6 days, 12 calls (12 new, 0 already known), 9 with a recording",
    ]
