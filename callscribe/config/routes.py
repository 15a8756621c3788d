"""Routes decide which sinks get which calls (docs/routing.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from callscribe.config.base import ConfigModel
from callscribe.config.conditions import WhereField
from callscribe.domain import CallEvent, Direction


class Route(ConfigModel):
    """Calls matching every condition given here go to ``sinks``."""

    sinks: tuple[str, ...] = Field(min_length=1, description="Sink names, as in [sinks.NAME].")
    sources: tuple[str, ...] = Field((), description="Only calls from these sources; empty: all.")
    directions: tuple[Direction, ...] = Field((), description="Only these directions; empty: all.")
    operators: tuple[str, ...] = Field((), description="Only these operator ids; empty: all.")
    min_talk_seconds: float = Field(0.0, ge=0.0, description="Skip calls shorter than this.")
    calls: Literal["recorded", "missed", "all"] = Field(
        "recorded",
        description="'recorded' (transcribed calls), 'missed' (calls without a recording: "
        "missed, abandoned — delivered without a transcript) or 'all'.",
    )
    where: WhereField | None = Field(
        None,
        description="Conditions on any field of the call, the vendor's own included "
        "(raw.*, fields.*): equals, in, regex, exists, empty, gt/ge/lt/le, combined with "
        "all/any/not. See docs/routing.md.",
    )

    def mismatches(self, event: CallEvent) -> list[str]:
        """Why this route does not take the call; empty when it does."""
        reasons = []
        if self.sources and event.source not in self.sources:
            reasons.append(f"source is {event.source!r}, route takes {_listed(self.sources)}")
        if self.directions and event.direction not in self.directions:
            reasons.append(
                f"direction is {event.direction.value}, route takes "
                + _listed(tuple(d.value for d in self.directions))
            )
        if self.operators and event.operator_id not in self.operators:
            reasons.append(
                f"operator is {event.operator_id!r}, route takes {_listed(self.operators)}"
            )
        has_recording = bool(event.recordings)
        if self.calls not in (("recorded", "all") if has_recording else ("missed", "all")):
            kind = "recorded" if has_recording else "missed (no recording)"
            reasons.append(f"the call is {kind}, route takes calls = {self.calls!r}")
        talk = event.talk_seconds
        if has_recording and talk is not None and talk < self.min_talk_seconds:
            reasons.append(
                f"talk time {talk:.0f} s is under min_talk_seconds {self.min_talk_seconds:g}"
            )
        if self.where is not None and (why := self.where.explain(event)) is not None:
            reasons.append(f"where: {why}")
        return reasons

    def matches(self, event: CallEvent) -> bool:
        return not self.mismatches(event)


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(repr(name) for name in names)


def sinks_for(routes: tuple[Route, ...], event: CallEvent) -> list[str]:
    """Every sink of every matching route, each once, in the order routes name them."""
    chosen: dict[str, None] = {}
    for route in routes:
        if route.matches(event):
            chosen.update(dict.fromkeys(route.sinks))
    return list(chosen)


def sinks_at_ingest(routes: tuple[Route, ...], event: CallEvent) -> list[str]:
    """The sinks to queue when a call is stored (``Store.ingest``): a call without a
    recording is routed at once, one with a recording only once it is transcribed."""
    return [] if event.recordings else sinks_for(routes, event)
