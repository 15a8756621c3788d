"""The mapped HTTP request sink (``type = "http"``): any API, its request written in the
configuration as a URL, query, headers and a body of dotted paths (docs/sinks/http.md).

The request is built by :func:`prepare`, which ``config validate`` also uses to show the
exact request a sample call makes, secrets masked.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.http_status import check_response, sink_client, transport_error
from callscribe.connectors.pacing import Pacer
from callscribe.connectors.sinks.http_config import HttpSinkConfig
from callscribe.domain import Call, Transcript
from callscribe.errors import SinkError
from callscribe.mapping import body
from callscribe.mapping.body import Entry
from callscribe.mapping.fields import Subject, dig
from callscribe.mapping.template import Env, Template, as_text

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request, ready to send."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    content: bytes | None

    def show(self) -> str:
        """The request as text, the way ``config validate`` prints it."""
        lines = [f"{self.method} {self.url}", *(f"{n}: {v}" for n, v in self.headers)]
        if self.content is not None:
            lines += ["", self.content.decode("utf-8", "replace")]
        return "\n".join(lines)


def env_of(config: HttpSinkConfig, *, mask: bool = False) -> Env:
    secrets = {name: secret.reveal() for name, secret in config.secrets.items()}
    return Env(config.time_zone, secrets, mask)


def prepare(config: HttpSinkConfig, subject: Subject, env: Env) -> Prepared:
    """The request for this call; SinkError (not retryable) naming the setting whose
    template cannot be rendered for it."""
    query = _pairs("query", config.query, subject, env)
    fields = _pairs("body", config.body, subject, env)
    content: bytes | None = None
    if config.method == "GET":
        query += fields
    elif fields or config.body:
        content = _encoded(config, fields)
    url = _url(config.url, subject, env)
    if query:
        url += ("&" if "?" in url else "?") + body.to_query(query)
    headers = _headers(config, subject, env, with_body=content is not None)
    return Prepared(config.method, url, headers, content)


def _encoded(config: HttpSinkConfig, fields: list[tuple[str, Any]]) -> bytes:
    if config.body_format == "form":
        return body.to_form(fields)
    if config.body_format == "xml":
        return body.to_xml(fields, config.xml_root)
    return body.to_json(fields)


def _pairs(
    section: str, entries: Sequence[Entry], subject: Subject, env: Env
) -> list[tuple[str, Any]]:
    try:
        return body.render(entries, subject, env)
    except SinkError as exc:
        raise SinkError(f"{section}.{exc}", retryable=False) from None


def _url(template: Template, subject: Subject, env: Env) -> str:
    parts = []
    for piece in template.pieces:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        try:
            value = as_text(piece.value(subject, env))
        except SinkError as exc:
            raise SinkError(f"url: {exc}", retryable=False) from None
        if value in (".", ".."):
            raise SinkError(f"url: {'.'.join(piece.path)} is {value!r}", retryable=False)
        parts.append(urllib.parse.quote(value, safe=""))
    return "".join(parts)


def _headers(
    config: HttpSinkConfig, subject: Subject, env: Env, *, with_body: bool
) -> tuple[tuple[str, str], ...]:
    headers: dict[str, str] = {"User-Agent": "callscribe"}
    if with_body:
        headers["Content-Type"] = CONTENT_TYPES[config.body_format]
    if config.idempotency_header and subject.key:
        headers[config.idempotency_header] = subject.key
    written = {name.lower(): name for name in headers}
    for name, value in _pairs("headers", config.headers, subject, env):
        text = as_text(value)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise SinkError(
                f"headers.{name}: the value has a line break or control character", retryable=False
            )
        if not text.isascii():  # a name in Cyrillic, say: HTTP sends header values as ASCII
            raise SinkError(
                f"headers.{name}: the value has characters other than ASCII, which a header "
                "cannot carry; put it in the body or the query instead",
                retryable=False,
            )
        headers.pop(written.get(name.lower(), name), None)  # the configuration's spelling wins
        headers[name] = text
    return tuple(headers.items())


class HttpSink:
    def __init__(self, name: str, config: HttpSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.config = config
        self._labels = labels
        self._env = env_of(config)
        self._pacer = Pacer(config.requests_per_second) if config.requests_per_second else None
        self._client = sink_client(config.timeout_seconds)

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        subject = Subject(
            call.event, call, transcript, self._labels, context.key, context.recording_url,
            context.version,
        )  # fmt: skip
        try:
            request = prepare(self.config, subject, self._env)
        except SinkError as exc:
            raise SinkError(f"cannot fill in the request: {exc}", retryable=False) from None
        if self._pacer is not None:
            await self._pacer.wait()
        try:
            response = await self._client.request(
                request.method, request.url, headers=list(request.headers), content=request.content
            )
        except httpx.HTTPError as exc:
            raise transport_error(request.url, exc) from exc
        check_response(response)
        return remote_id(response, self.config.remote_id)

    async def aclose(self) -> None:
        await self._client.aclose()


def remote_id(response: httpx.Response, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        value = dig(response.json(), path.split("."))
    except ValueError:
        return None
    return None if value is None or isinstance(value, dict | list) else as_text(value)
