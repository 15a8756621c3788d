"""POST every finished call as JSON to a URL of your choice (docs/sinks/webhook.md)."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import AnyHttpUrl, Field

from callscribe.config import RenderSettings
from callscribe.config.base import ConfigModel, SecretValue
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.http_status import check_response, sink_client, transport_error
from callscribe.connectors.sinks.payload import call_document
from callscribe.domain import Call, Transcript


class WebhookSinkConfig(ConfigModel):
    type: Literal["webhook"]
    url: AnyHttpUrl = Field(description="Where each finished call is POSTed.")
    token: SecretValue | None = Field(None, description="Sent as 'Authorization: Bearer …'.")
    timeout_seconds: float = Field(
        30.0, gt=0, le=120, description="Give up on one attempt after this long (retried later)."
    )


class WebhookSink:
    def __init__(self, name: str, config: WebhookSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self._url = str(config.url)
        self._labels = labels
        headers = {}
        if config.token is not None:
            headers["authorization"] = f"Bearer {config.token.reveal()}"
        self._client = sink_client(config.timeout_seconds, headers)

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        key = context.key
        document = call_document(call, transcript, key, self._labels)
        try:
            response = await self._client.post(
                self._url, json=document, headers={"idempotency-key": key}
            )
        except httpx.HTTPError as exc:
            raise transport_error(self._url, exc) from exc
        check_response(response)
        return _remote_id(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _remote_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("id"), str | int):
        return str(body["id"])
    return None
