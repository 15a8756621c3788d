"""Routes decide which sinks get which calls."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from callscribe.config.base import ConfigModel
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

    def matches(self, event: CallEvent) -> bool:
        has_recording = bool(event.recordings)
        talk = event.talk_seconds
        return (
            (not self.sources or event.source in self.sources)
            and (not self.directions or event.direction in self.directions)
            and (not self.operators or event.operator_id in self.operators)
            and self.calls in (("recorded", "all") if has_recording else ("missed", "all"))
            and (not has_recording or talk is None or talk >= self.min_talk_seconds)
        )


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
