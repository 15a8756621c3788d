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

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from callscribe.config.base import ConfigModel
from callscribe.config.daemon import DaemonSettings, RetentionSettings, RetrySettings
from callscribe.config.problems import REFERENCES_ERROR, RouteNames, references
from callscribe.config.redaction import RedactionSettings
from callscribe.config.routes import Route
from callscribe.config.store import NodeSettings, StoreSettings
from callscribe.config.transcription import RenderSettings, TranscriptionSettings
from callscribe.connectors.registry import SinkConfig, SourceConfig


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
        problems = references(
            self.sources,
            self.sinks,
            [RouteNames(route.sources, route.sinks) for route in self.routes],
            self.redaction.sinks,
        )
        if problems:
            # Validation (config/validation.py) reports these key by key instead.
            joined = "; ".join(map(str, problems))
            raise PydanticCustomError(REFERENCES_ERROR, "{problems}", {"problems": joined})
        return self
