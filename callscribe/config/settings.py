"""The whole configuration file as one validated object.

```toml
[daemon]            # DaemonSettings: state, listening address, workers, limits
[transcription]     # TranscriptionSettings: model, language, channels, ...
[render]            # RenderSettings: speaker labels
[retry]             # RetrySettings: waits between retries of each stage
[retention]         # RetentionSettings: how long recordings and transcripts are kept
[redaction]         # RedactionSettings: personal data hidden from what sinks receive
[store]             # StoreSettings: SQLite (default) or PostgreSQL for several nodes
[node]              # NodeSettings: this node's roles
[sources.NAME]      # type = "generic" | "directory" | ...   (connectors/registry.py)
[sinks.NAME]        # type = "jsonl" | "webhook" | ...
[[routes]]          # which sources go to which sinks
```
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from callscribe.config.base import ConfigModel
from callscribe.config.daemon import DaemonSettings, RetentionSettings, RetrySettings
from callscribe.config.redaction import RedactionSettings
from callscribe.config.routes import Route
from callscribe.config.store import NodeSettings, StoreSettings
from callscribe.config.transcription import RenderSettings, TranscriptionSettings
from callscribe.connectors.registry import SinkConfig, SourceConfig

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Settings(ConfigModel):
    # Sections are frozen, so one default instance can be shared.
    daemon: DaemonSettings = DaemonSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    render: RenderSettings = RenderSettings()
    retry: RetrySettings = RetrySettings()
    retention: RetentionSettings = RetentionSettings()
    redaction: RedactionSettings = RedactionSettings()
    store: StoreSettings = StoreSettings()
    node: NodeSettings = NodeSettings()
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    sinks: dict[str, SinkConfig] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _names_and_routes(self) -> Settings:
        problems = [
            f"{kind}.{name}: names are lower-case letters, digits, '-' and '_'"
            for kind, names in (("sources", self.sources), ("sinks", self.sinks))
            for name in names
            if not NAME.match(name)
        ]
        for index, route in enumerate(self.routes):
            problems += [
                f"routes[{index}].sources: no source named {name!r}"
                for name in route.sources
                if name not in self.sources
            ]
            problems += [
                f"routes[{index}].sinks: no sink named {name!r}"
                for name in route.sinks
                if name not in self.sinks
            ]
        problems += [
            f"redaction.sinks.{name}: no sink named {name!r}"
            for name in self.redaction.sinks
            if name not in self.sinks
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self
