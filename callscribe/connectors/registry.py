"""Every connector callscribe has, in one table.

Adding a connector means writing its module (a config model with ``type: Literal[...]``
and a class) and adding one line to a table and its config to a union below — nothing
is discovered by scanning folders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from callscribe.config import ConfigModel, RenderSettings
from callscribe.connectors.base import RunningSource, Sink, WebhookSource
from callscribe.connectors.sinks.jsonl import JsonlSink, JsonlSinkConfig
from callscribe.connectors.sinks.webhook import WebhookSink, WebhookSinkConfig
from callscribe.connectors.sources.asterisk import AsteriskSource, AsteriskSourceConfig
from callscribe.connectors.sources.directory import DirectorySource, DirectorySourceConfig
from callscribe.connectors.sources.webhook import GenericWebhookConfig, GenericWebhookSource

SourceConfig = Annotated[
    GenericWebhookConfig | DirectorySourceConfig | AsteriskSourceConfig,
    Field(discriminator="type"),
]
SinkConfig = Annotated[
    JsonlSinkConfig | WebhookSinkConfig,
    Field(discriminator="type"),
]


@dataclass(frozen=True, slots=True)
class SourceKind:
    summary: str
    config: type[ConfigModel]
    build: Callable[[str, Any], WebhookSource | RunningSource]


@dataclass(frozen=True, slots=True)
class SinkKind:
    summary: str
    config: type[ConfigModel]
    build: Callable[[str, Any, RenderSettings], Sink]


SOURCES: Mapping[str, SourceKind] = {
    "generic": SourceKind(
        "any system that can POST JSON (docs/sources/generic-webhook.md)",
        GenericWebhookConfig,
        GenericWebhookSource,
    ),
    "directory": SourceKind(
        "a folder of recordings; each complete file is a call",
        DirectorySourceConfig,
        DirectorySource,
    ),
    "asterisk": SourceKind(
        "Asterisk, FreePBX, Issabel through AMI (docs/sources/asterisk.md)",
        AsteriskSourceConfig,
        AsteriskSource,
    ),
}

SINKS: Mapping[str, SinkKind] = {
    "jsonl": SinkKind("append one JSON line per call to a file", JsonlSinkConfig, JsonlSink),
    "webhook": SinkKind(
        "POST the call and transcript as JSON to a URL (docs/sinks/webhook.md)",
        WebhookSinkConfig,
        WebhookSink,
    ),
}


def build_source(name: str, config: Any) -> WebhookSource | RunningSource:
    return SOURCES[config.type].build(name, config)


def build_sink(name: str, config: Any, labels: RenderSettings) -> Sink:
    return SINKS[config.type].build(name, config, labels)
