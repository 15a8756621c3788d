"""How far a batch command is, counted in what its time follows: seconds of audio for
transcription (one long call takes as long as fifty short ones), days for a backfill.

On a terminal: a bar on stderr with what is done and to do, the speed and the time left
at the speed measured so far.  Off a terminal (a log, a pipe): one plain line every
``every`` seconds and one at the end, never a bar's control characters.  Quiet: nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO


def clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class Unit:
    """What a batch is measured in: how an amount done of a total reads, and its speed
    (amount per second of wall time), if the speed means anything to the reader."""

    amount: Callable[[float, float], str]
    speed: Callable[[float], str] | None = None


AUDIO = Unit(
    amount=lambda done, total: f"{clock(done)} of {clock(total)} of audio",
    speed=lambda per_second: f"×{per_second:.1f} real time",
)
DAYS = Unit(amount=lambda done, total: f"{done:.0f} of {total:.0f} days")


class Progress:
    def __init__(
        self,
        what: str,
        total: float,
        total_items: int | None = None,
        *,
        unit: Unit = AUDIO,
        quiet: bool = False,
        stream: TextIO | None = None,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.unit = unit
        self.total = max(total, 0.0)
        self.total_items = total_items
        self.done = 0.0
        self.done_items = 0
        self._note = ""
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
                total=self.total,
                file=self._stream,
                leave=False,
                desc=what,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}",
            )

    def advance(self, amount: float, items: int = 1) -> None:
        self.done += max(amount, 0.0)
        self.done_items += items
        if self._bar is not None:
            self._bar.update(max(amount, 0.0))
        self._show()

    def skip(self, amount: float) -> None:
        """Take work that turned out to be done already (a day an earlier backfill
        finished) out of the total, so it does not count towards the speed."""
        self.total = max(self.total - amount, self.done)
        if self._bar is not None:
            self._bar.total = self.total
        self._show()

    def note(self, text: str) -> None:
        """What the counts do not say, shown after them (a backfill's calls so far)."""
        self._note = text
        if self._bar is not None:
            self._bar.set_postfix_str(self.summary())

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
        elif not self._quiet and (self.done or self.done_items or self._note):
            self._line()

    @property
    def speed(self) -> float | None:
        """Amount done per second of wall time so far."""
        elapsed = self._clock() - self._started
        return self.done / elapsed if elapsed > 0 and self.done > 0 else None

    def summary(self) -> str:
        parts = [self.unit.amount(self.done, self.total)]
        if self.total_items is not None:
            parts.insert(0, f"{self.done_items} of {self.total_items}")
        if self._note:
            parts.append(self._note)
        speed = self.speed
        if speed is not None:
            if self.unit.speed is not None:
                parts.append(self.unit.speed(speed))
            if self.done < self.total and self.done_items != self.total_items:
                parts.append(f"about {clock((self.total - self.done) / speed)} left")
        return ", ".join(parts)

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.summary(), refresh=False)
        elif not self._quiet and self._clock() - self._last_line >= self._every:
            self._line()

    def _line(self) -> None:
        self._last_line = self._clock()
        print(f"{self.what}: {self.summary()}", file=self._stream, flush=True)
