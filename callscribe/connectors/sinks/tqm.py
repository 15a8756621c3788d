"""T-Bank Quality Management (``type = "tqm"``): imports each call with its recording
(integrations.md §7, docs/sinks/tqm.md).

- With-file form (default): ``POST <url>/with-file``, multipart with ``file`` (stereo,
  operator left: ``tqm_audio.py``) and ``value`` (the JSON below).  Link form: ``POST
  <url>`` with the JSON and a file link, when a link exists and the operator is already
  on the left.
- ``Authorization: Basic <access key as-is>``.
- TQM imports a call only when it answers 200: anything else is retried, and the error
  kept (the dead letter, in the end) quotes ``x-correlation-id`` for T-Bank's support.
- Requests are paced (``requests_per_second``), one recording is prepared at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.http_status import check_response, sink_client, transport_error
from callscribe.connectors.pacing import Pacer
from callscribe.connectors.sinks.call_values import platform_id
from callscribe.connectors.sinks.tqm_audio import MAX_SECONDS, mp3_available, tqm_audio
from callscribe.connectors.sinks.tqm_config import TqmSinkConfig
from callscribe.domain import Call, Direction, Speaker, Transcript
from callscribe.errors import SinkError
from callscribe.mapping.fields import Subject
from callscribe.mapping.template import Env, Template, as_text

log = logging.getLogger(__name__)

MAX_ID_CHARS = 32
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
OPERATOR_LEFT = "left"


def tqm_id(external_id: str) -> str:
    """The PBX's id when it fits TQM's 32 characters, else a stable digest of it."""
    return platform_id(external_id, MAX_ID_CHARS)


def tqm_value(
    config: TqmSinkConfig, subject: Subject, *, link: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """The ``value`` JSON of one call (the body of the link form)."""
    event = subject.event
    start, end = _dates(subject, config, now or datetime.now(config.time_zone))
    direction = event.direction
    value: dict[str, Any] = {
        "Id": tqm_id(event.external_id),
        "CallDirection": direction.value
        if direction in (Direction.INBOUND, Direction.OUTBOUND)
        else config.other_directions,
        "StartDate": start,
        "EndDate": end,
    }
    env = Env(config.time_zone)
    optional: Mapping[str, Any] = {
        config.hangup_side_key: _text(config.hangup_side, subject, env),
        config.operator_id_key: _text(config.operator_id, subject, env),
        config.operator_channel_key: OPERATOR_LEFT,
        config.client_phone_key: _text(config.client_phone, subject, env),
        config.file_link_key: link,
    }
    value |= {key: v for key, v in optional.items() if key and v not in (None, "")}
    return value


def _text(template: Template, subject: Subject, env: Env) -> str | None:
    value = template.render(subject, env)
    return None if value is None else as_text(value)


def _dates(subject: Subject, config: TqmSinkConfig, now: datetime) -> tuple[str, str]:
    """Start and end in the configured zone, no offset, never after ``now`` (TQM refuses
    dates in the future, which a PBX clock running ahead would otherwise cause)."""
    event = subject.event
    length = timedelta(seconds=subject.transcript.duration if subject.transcript else 0.0)
    end = event.ended_at or (event.started_at + length if event.started_at else None)
    end = end or (subject.call.received_at if subject.call else now)
    start = event.started_at or event.answered_at or end - length
    end = min(end.astimezone(config.time_zone), now)
    start = min(start.astimezone(config.time_zone), end)
    return start.strftime(DATE_FORMAT), end.strftime(DATE_FORMAT)


class TqmSink:
    def __init__(self, name: str, config: TqmSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.config = config
        self._labels = labels
        self._url = str(config.url).rstrip("/")
        self._format = config.audio_format
        if self._format == "mp3" and not mp3_available():
            log.warning(
                "sink %s: this libsndfile cannot write MP3 (it needs 1.1 or newer); "
                "recordings go to TQM as WAV, which limits them to about 50 minutes",
                name,
            )
            self._format = "wav"
        self._pacer = Pacer(config.requests_per_second)
        self._preparing = asyncio.Semaphore(1)  # a long call's audio takes ~0.5 GB decoded
        self._client = sink_client(
            config.timeout_seconds, {"authorization": f"Basic {config.access_key.reveal()}"}
        )

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        if transcript is None:
            raise SinkError(
                "TQM imports recorded calls; this one has no recording "
                "(route missed calls to another sink: calls = 'recorded')",
                retryable=False,
            )
        if transcript.duration > MAX_SECONDS:
            raise SinkError(
                f"the call lasts {transcript.duration / 60:.0f} min; TQM imports "
                f"calls of up to {MAX_SECONDS / 60:.0f} min",
                retryable=False,
            )
        subject = Subject(
            call.event, call, transcript, self._labels, context.key, context.recording_url
        )
        link = self._link(subject, context)
        if link is not None:
            request = self._client.build_request(
                "POST", self._url, content=_json(tqm_value(self.config, subject, link=link)),
                headers={"content-type": "application/json"},
            )  # fmt: skip
        else:
            request = await self._with_file(subject, context)
        await self._pacer.wait()
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            raise transport_error(str(request.url), exc, "TQM") from exc
        _imported(response)
        return tqm_id(call.event.external_id)

    def _link(self, subject: Subject, context: DeliveryContext) -> str | None:
        if self.config.upload != "auto" or context.channels[0] is not Speaker.OPERATOR:
            return None
        if self.config.file_link is not None:
            return _text(self.config.file_link, subject, Env(self.config.time_zone)) or None
        return context.recording_url

    async def _with_file(self, subject: Subject, context: DeliveryContext) -> httpx.Request:
        if context.recording is None:
            raise SinkError(
                "the recording is no longer kept and there is no link to it "
                "to give TQM instead (set file_link)",
                retryable=False,
            )
        async with self._preparing:
            audio = await asyncio.to_thread(
                tqm_audio, context.recording, context.channels, audio_format=self._format,
                kbps=self.config.mp3_kbps, mono=self.config.mono_recordings,
            )  # fmt: skip
        value = tqm_value(self.config, subject, link=None)
        files = {
            "file": (f"{value['Id']}.{audio.extension}", audio.data, audio.content_type),
            "value": (None, _json(value), "application/json"),
        }
        return self._client.build_request("POST", self._url + "/with-file", files=files)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _imported(response: httpx.Response) -> None:
    """Return on 200; otherwise raise a retryable SinkError quoting x-correlation-id."""
    if response.status_code == 200:
        return
    try:
        check_response(response, "TQM")
        reason = f"TQM answered HTTP {response.status_code}"
        retry_after = None
    except SinkError as exc:
        reason, retry_after = str(exc), exc.retry_after
    correlation = response.headers.get("x-correlation-id")
    if correlation:
        reason += f" (x-correlation-id {correlation[:100]}: quote it to T-Bank's support)"
    raise SinkError(f"not imported: {reason}", retryable=True, retry_after=retry_after)
