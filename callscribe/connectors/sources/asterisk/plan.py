"""What MixMonitor wrote for a call, as learned from AMI or from the file names.

MixMonitor writes a mixed file (its first argument; ``VarSet MIXMONITOR_FILENAME`` gives
the path it really used), optionally one file per direction (``r(file)`` = what the
recorded channel sent, ``t(file)`` = what it received), and with the ``D`` option the
mixed file is interleaved stereo instead: left = what the channel sent, right = what it
received.  "The recorded channel" is whichever channel ran MixMonitor: the caller's on an
inbound call, the operator's phone on an outbound one, so which side is which follows from
it (``recorded_side``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from callscribe.domain import Speaker

# Headerless signed-linear formats by extension, with their sample rates.
SLIN_RATES = {
    "raw": 8000, "sln": 8000, "slin": 8000, "sln12": 12000, "sln16": 16000, "sln24": 24000,
    "sln32": 32000, "sln44": 44100, "sln48": 48000, "sln96": 96000, "sln192": 192000,
}  # fmt: skip
_OPTION = re.compile(r"([A-Za-z])(?:\(([^)]*)\))?")
UNIQUEID = re.compile(r"(?<![\d.])(\d{9,11}\.\d{1,9})(?!\d|\.\d)")


def slin_rate(path: str) -> int | None:
    """The sample rate of a headerless signed-linear file name, None for other formats."""
    return SLIN_RATES.get(posixpath.splitext(path)[1].lstrip(".").lower())


@dataclass(frozen=True, slots=True)
class RecordingPlan:
    """Files of one recording as Asterisk names them (paths on the PBX, not mapped yet)."""

    mixed: str | None = None
    read: str | None = None  # r(): what the recorded channel sent
    write: str | None = None  # t(): what it received
    interleaved: bool = False  # the D option: mixed is stereo, left = read
    recorded_side: Speaker = Speaker.CLIENT

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.mixed, self.read, self.write) if f)

    @property
    def has_legs(self) -> bool:
        return bool(self.read and self.write)

    @property
    def location(self) -> str:
        """The path shown as the call's recording."""
        return self.mixed or self.read or self.write or ""

    @property
    def channels(self) -> tuple[Speaker, Speaker] | None:
        """Left and right of the file callscribe will transcribe: the leg files are
        combined with the operator on the left; a ``D`` file has the recorded side left."""
        if self.has_legs:
            return (Speaker.OPERATOR, Speaker.CLIENT)
        if self.interleaved:
            other = Speaker.OPERATOR if self.recorded_side is Speaker.CLIENT else Speaker.CLIENT
            return (self.recorded_side, other)
        return None

    def on_side(self, side: Speaker) -> RecordingPlan:
        return replace(self, recorded_side=side)

    def to_raw(self) -> dict[str, Any]:
        return {
            "mixed": self.mixed,
            "read": self.read,
            "write": self.write,
            "interleaved": self.interleaved,
            "recorded_side": self.recorded_side.value,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> RecordingPlan:
        def text(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            mixed=text("mixed"),
            read=text("read"),
            write=text("write"),
            interleaved=raw.get("interleaved") is True,
            recorded_side=Speaker(raw.get("recorded_side", Speaker.CLIENT.value)),
        )


def from_mixmonitor(app_data: str, monitor_dir: str) -> RecordingPlan:
    """The plan a ``MixMonitor(file,options,command)`` line announces.  Relative names are
    relative to Asterisk's monitor folder, as MixMonitor takes them."""
    file, _, rest = app_data.partition(",")
    options, _, _ = rest.partition(",")
    found = dict(_OPTION.findall(options))

    def absolute(name: str | None) -> str | None:
        name = (name or "").strip()
        if not name:
            return None
        return name if name.startswith("/") else posixpath.join(monitor_dir, name)

    return RecordingPlan(
        mixed=absolute(file),
        read=absolute(found.get("r")),
        write=absolute(found.get("t")),
        interleaved="D" in found,
    )


def from_files(paths: list[str], leg_suffixes: tuple[str, str], raw_stereo: bool) -> RecordingPlan:
    """The plan of files known only by name (``MIXMONITOR_FILENAME``, or found in a
    recordings folder): legs by their suffixes, a headerless file as ``raw_stereo`` says."""
    read_suffix, write_suffix = leg_suffixes
    mixed = read = write = None
    for path in sorted(paths):
        stem = posixpath.splitext(path)[0]
        if stem.endswith(read_suffix):
            read = path
        elif stem.endswith(write_suffix):
            write = path
        elif mixed is None:
            mixed = path
    interleaved = bool(mixed and slin_rate(mixed)) and raw_stereo
    return RecordingPlan(mixed=mixed, read=read, write=write, interleaved=interleaved)


def uniqueid_in(name: str) -> str | None:
    """The Asterisk UNIQUEID (``1795303482.0``) a recording's file name carries, if any;
    the last one when there are several."""
    found = UNIQUEID.findall(posixpath.basename(name))
    return found[-1] if found else None
