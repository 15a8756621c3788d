"""How far a batch command is, counted in seconds of audio rather than files, since one
long call takes as long as fifty short ones.

On a terminal: a bar on stderr with the audio done and to do, the speed as a multiple of
real time and the time left at the speed measured so far.  Off a terminal (a log, a pipe):
one plain line every ``every`` seconds and one at the end, never a bar's control
characters.  Quiet: nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class Progress:
    def __init__(
        self,
        what: str,
        total_seconds: float,
        total_items: int,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total_seconds = max(total_seconds, 0.0)
        self.total_items = total_items
        self.done_seconds = 0.0
        self.done_items = 0
        self._stream = stream or sys.stderr
        self._every = every
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._quiet = quiet
        self._bar: Any = None
        if not quiet and self._stream.isatty():
            from tqdm import tqdm  # noqa: PLC0415 - only a terminal needs it

            self._bar = tqdm(
                total=self.total_seconds,
                file=self._stream,
                leave=False,
                desc=what,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}",
            )

    def advance(self, seconds: float, items: int = 1) -> None:
        self.done_seconds += max(seconds, 0.0)
        self.done_items += items
        if self._bar is not None:
            self._bar.set_postfix_str(self.summary(), refresh=False)
            self._bar.update(max(seconds, 0.0))
        elif not self._quiet and self._clock() - self._last_line >= self._every:
            self._line()

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print a line (to stdout by default) without breaking the bar."""
        target = file or sys.stdout
        if self._bar is not None:
            self._bar.write(text, file=target)
        else:
            print(text, file=target, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif not self._quiet and self.done_items:
            self._line()

    @property
    def speed(self) -> float | None:
        """Seconds of audio per second of wall time so far."""
        elapsed = self._clock() - self._started
        return self.done_seconds / elapsed if elapsed > 0 and self.done_seconds > 0 else None

    def summary(self) -> str:
        parts = [
            f"{self.done_items} of {self.total_items}",
            f"{clock(self.done_seconds)} of {clock(self.total_seconds)} of audio",
        ]
        speed = self.speed
        if speed is not None:
            parts.append(f"×{speed:.1f} real time")
            left = max(self.total_seconds - self.done_seconds, 0.0) / speed
            if self.done_items < self.total_items:
                parts.append(f"about {clock(left)} left")
        return ", ".join(parts)

    def _line(self) -> None:
        self._last_line = self._clock()
        print(f"{self.what}: {self.summary()}", file=self._stream, flush=True)


def clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
