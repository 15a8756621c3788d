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
from callscribe.connectors.sinks.http import HttpSink
from callscribe.connectors.sinks.http_config import HttpSinkConfig
from callscribe.connectors.sinks.jsonl import JsonlSink, JsonlSinkConfig
from callscribe.connectors.sinks.okdesk import OkdeskSink, OkdeskSinkConfig
from callscribe.connectors.sinks.qolio import QolioSink, QolioSinkConfig
from callscribe.connectors.sinks.tqm import TqmSink
from callscribe.connectors.sinks.tqm_config import TqmSinkConfig
from callscribe.connectors.sinks.usedesk import UsedeskSink, UsedeskSinkConfig
from callscribe.connectors.sinks.webhook import WebhookSink, WebhookSinkConfig
from callscribe.connectors.sources.asterisk import AsteriskSource, AsteriskSourceConfig
from callscribe.connectors.sources.calltouch import CalltouchSource, CalltouchSourceConfig
from callscribe.connectors.sources.directory import DirectorySource, DirectorySourceConfig
from callscribe.connectors.sources.mango import MangoConfig, MangoSource
from callscribe.connectors.sources.uis import UisSource, UisSourceConfig
from callscribe.connectors.sources.webhook import GenericWebhookConfig, GenericWebhookSource

SourceConfig = Annotated[
    GenericWebhookConfig
    | DirectorySourceConfig
    | UisSourceConfig
    | CalltouchSourceConfig
    | MangoConfig
    | AsteriskSourceConfig,
    Field(discriminator="type"),
]
SinkConfig = Annotated[
    JsonlSinkConfig
    | WebhookSinkConfig
    | HttpSinkConfig
    | TqmSinkConfig
    | QolioSinkConfig
    | UsedeskSinkConfig
    | OkdeskSinkConfig,
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
    # Whether `callscribe retranscribe --redeliver` sends it a call's newer transcript
    # (DeliveryContext.revises): not a platform that is sent the recording, not ours.
    revisions: bool = True


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
    "uis": SourceKind(
        "UIS / CoMagic HTTP notifications, past calls from the Data API (docs/sources/uis.md)",
        UisSourceConfig,
        UisSource,
    ),
    "calltouch": SourceKind(
        "Calltouch call webhooks, recordings and past calls from its API "
        "(docs/sources/calltouch.md)",
        CalltouchSourceConfig,
        CalltouchSource,
    ),
    "mango": SourceKind(
        "Mango Office: signed notifications, recordings, past calls (docs/sources/mango.md)",
        MangoConfig,
        MangoSource,
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
    "http": SinkKind(
        "any HTTP API, the request mapped field by field (docs/sinks/http.md)",
        HttpSinkConfig,
        HttpSink,
    ),
    "tqm": SinkKind(
        "T-Bank Quality Management: each call imported with its recording (docs/sinks/tqm.md)",
        TqmSinkConfig,
        TqmSink,
        revisions=False,
    ),
    "qolio": SinkKind(
        "a call card with its transcript in Qolio (docs/sinks/qolio.md)",
        QolioSinkConfig,
        QolioSink,
    ),
    "usedesk": SinkKind(
        "the transcript as a private comment in the client's Usedesk ticket "
        "(docs/sinks/usedesk.md)",
        UsedeskSinkConfig,
        UsedeskSink,
    ),
    "okdesk": SinkKind(
        "the transcript as a comment on an Okdesk issue; a missed call as an issue "
        "(docs/sinks/okdesk.md)",
        OkdeskSinkConfig,
        OkdeskSink,
    ),
}


def build_source(name: str, config: Any) -> WebhookSource | RunningSource:
    return SOURCES[config.type].build(name, config)


def build_sink(name: str, config: Any, labels: RenderSettings) -> Sink:
    return SINKS[config.type].build(name, config, labels)
