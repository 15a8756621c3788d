"""The daemon's HTTP server: webhooks in, health and metrics out.

    GET|POST /hooks/<source>[/<path>]   a PBX's webhook (reliability.md R-WH-1..10)
    GET      /healthz, /readyz, /metrics
    GET      /recordings/<call id>/<file>?expires=…&sig=…   with [daemon] public_url only
                                        (recording_server.py)

A webhook is answered 2xx only after every event in it is committed (R-WH-6); the PBX
retries anything else and the store deduplicates (R-WH-5).  No access log: query strings
carry phone numbers.  Each webhook gets one INFO line instead (source, status, counts,
client address, why it was refused; never the body or the query).  ``webhooks_total`` is
counted here, ``calls_received_total`` by ``ingest``, which running sources share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive
from uvicorn.protocols.http.h11_impl import H11Protocol

from callscribe import faults
from callscribe.connectors.base import WebhookRequest, WebhookSource
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.recording_server import RecordingEndpoint
from callscribe.domain import CallEvent, CallPart
from callscribe.errors import SourceError
from callscribe.logmask import escape_control, sanitize
from callscribe.store.base import Ingested

log = logging.getLogger(__name__)

Ingest = Callable[[CallEvent | CallPart], Awaitable[Ingested | None]]
"""Stores one event or call part; returns once it is committed (None: a part kept until
its call is whole), raises when it cannot be."""

RETRY_AFTER_SECONDS = 30
UNKNOWN_SOURCE = "(unknown)"  # metrics label: a name from the URL would be unbounded
_HIDDEN = {401: "unauthorized", 403: "forbidden"}  # no hints for whoever is probing


class BodyTooLargeError(Exception):
    """The request body passed the size limit."""


class _RefusedError(Exception):
    """A webhook to answer with an error status, and what the answer needs."""

    def __init__(self, status: int, reason: str, *, close: bool = False, accepted: int = 0):
        super().__init__(reason)
        self.status, self.reason, self.close, self.accepted = status, reason, close, accepted


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read an ASGI request body, holding at most ``limit`` bytes plus one chunk: raises
    :class:`BodyTooLargeError` as soon as it passes ``limit`` (uvicorn stops reading the
    socket while its 64 KiB buffer is full), or ``ClientDisconnect``."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLargeError
        if not message.get("more_body", False):
            return bytes(body)


@dataclass(frozen=True, slots=True)
class _Webhooks:
    """The ``/hooks`` endpoint: size limit, source, ingest, one log line, one metric."""

    sources: Mapping[str, WebhookSource]
    ingest: Ingest
    metrics: Metrics
    max_body_bytes: int
    body_timeout: float

    async def handle(self, request: Request) -> Response:
        name = request.path_params["source"]
        client = request.client.host if request.client else None
        source = self.sources.get(name)
        if source is None:
            return self.answer(UNKNOWN_SOURCE, 404, client, reason=f"no source {name[:64]!r}")
        try:
            events = await self.parse(source, await self.receive(request, client))
            accepted, duplicates = await self.store(events)
            faults.reach("webhook.stored")
        except _RefusedError as no:
            return self.answer(
                name, no.status, client, reason=no.reason, accepted=no.accepted, close=no.close
            )
        return self.answer(name, 200, client, accepted=accepted, duplicates=duplicates)

    async def receive(self, request: Request, client: str | None) -> WebhookRequest:
        if request.method not in ("GET", "POST"):  # Starlette adds HEAD to GET routes
            raise _RefusedError(405, "only GET and POST")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            # Connection: close makes the server drop the socket instead of draining it.
            raise _RefusedError(413, "body too large", close=True)
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_body(request.receive, self.max_body_bytes)
        except BodyTooLargeError:
            raise _RefusedError(413, "body too large", close=True) from None
        except TimeoutError:
            raise _RefusedError(408, "body too slow", close=True) from None
        except ClientDisconnect:
            raise _RefusedError(400, "client went away", close=True) from None
        subpath = request.path_params.get("path")
        return WebhookRequest(
            method=request.method,
            path="" if subpath is None else f"/{subpath}",
            query=dict(request.query_params),
            headers=dict(request.headers.items()),
            body=body,
            client_ip=client,
        )

    async def parse(
        self, source: WebhookSource, webhook: WebhookRequest
    ) -> list[CallEvent | CallPart]:
        try:
            return await source.handle(webhook)
        except SourceError as exc:
            raise _RefusedError(exc.status if 400 <= exc.status < 500 else 400, str(exc)) from None
        except Exception:
            log.exception("webhook %s: the source failed; nothing stored", source.name)
            raise _RefusedError(500, "internal error") from None

    async def store(self, events: list[CallEvent | CallPart]) -> tuple[int, int]:
        accepted = duplicates = 0
        try:
            for event in events:
                ingested = await self.ingest(event)
                created = ingested is None or ingested.created
                accepted += created
                duplicates += not created
        except Exception:  # database down, disk full: the PBX retries; committed ones dedupe
            log.exception("webhook %s: the store refused the event", events[0].source)
            raise _RefusedError(503, "store unavailable", accepted=accepted) from None
        return accepted, duplicates

    def answer(
        self,
        label: str,
        status: int,
        client: str | None,
        *,
        reason: str = "",
        accepted: int = 0,
        duplicates: int = 0,
        close: bool = False,
    ) -> Response:
        self.metrics.webhook(label, status)
        # Sanitised here, not only by the daemon's log filter: the reason can quote keys
        # and names an attacker chose.
        detail = f" reason={sanitize(reason, 300)}" if reason else ""
        counts = f"accepted={accepted} duplicates={duplicates}"
        log.info("webhook %s %d %s client=%s%s", label, status, counts, client, detail)
        if status == 200:
            return JSONResponse({"accepted": accepted, "duplicates": duplicates})
        text = _HIDDEN.get(status) or escape_control(reason)[:300] or "error"
        headers = {"Connection": "close"} if close else {}
        if status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return PlainTextResponse(text + "\n", status_code=status, headers=headers)


def create_app(
    *,
    sources: Mapping[str, WebhookSource],
    ingest: Ingest,
    readiness: Callable[[], Mapping[str, bool]],
    metrics: Metrics,
    max_body_bytes: int = 1 << 20,
    body_timeout: float = 30.0,
    recordings: RecordingEndpoint | None = None,
) -> Starlette:
    """The ASGI app.  ``ingest`` must return only once the event is committed and raise
    when it cannot be; ``body_timeout`` bounds a client that sends its body slowly;
    ``recordings`` serves signed recording links (none without it)."""
    hook = _Webhooks(sources, ingest, metrics, max_body_bytes, body_timeout).handle

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        try:
            checks = {name: bool(ok) for name, ok in readiness().items()}
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"error": "readiness check failed"}, status_code=503)
        return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    methods = ["GET", "POST"]
    routes = [
        Route("/hooks/{source}", hook, methods=methods),
        Route("/hooks/{source}/{path:path}", hook, methods=methods),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    if recordings is not None:  # GET routes answer HEAD too
        routes.append(Route("/recordings/{call_id}/{file}", recordings.handle, methods=["GET"]))
    return Starlette(routes=routes)


class _QuietH11(H11Protocol):
    """h11 that never writes the access log.  uvicorn's ``access_log=False`` only unhooks
    the ``uvicorn.access`` logger; its protocol logs whenever that logger *has* handlers
    (0.54), and a handler added to every logger (pytest's caplog, log shippers) brings
    the query strings, phone numbers and all, back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the daemon owns SIGTERM/SIGINT), telling
    ``ready`` once listening and stopping when ``stop`` is set."""

    def __init__(
        self, config: uvicorn.Config, ready: asyncio.Event | None, stop: asyncio.Event | None
    ) -> None:
        super().__init__(config)
        self._ready = ready
        self._stop = stop

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would install its own SIGINT/SIGTERM handlers and re-raise the signal
        # after shutdown; the daemon stops us by cancelling or through ``stop`` instead.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._ready is not None:
            self._ready.set()

    async def on_tick(self, counter: int) -> bool:
        if self._stop is not None and self._stop.is_set():
            self.should_exit = True
        return await super().on_tick(counter)


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    ready: asyncio.Event | None = None,
    sockets: list[socket.socket] | None = None,
    stop: asyncio.Event | None = None,
    trusted_proxies: Sequence[str] = (),
    shutdown_timeout: int = 10,
) -> None:
    """Serve ``app`` on ``host:port`` (or on bound ``sockets``) in the running loop.

    ``ready`` is set once listening.  Stops gracefully (no new connections; requests in
    flight get ``shutdown_timeout`` seconds to commit and answer) when ``stop`` is set,
    then returns, or when cancelled, then re-raises.  ``trusted_proxies`` may set the
    client address through ``X-Forwarded-For``; none by default, so no header can forge
    the address an allow-list checks.  ``OSError`` if the address cannot be bound.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_QuietH11,  # h11 explicitly: the same parser whatever else is installed
        ws="none",
        lifespan="off",
        log_config=None,  # the daemon configures logging; uvicorn must not replace it
        access_log=False,  # it would log query strings, which carry phone numbers
        server_header=False,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        timeout_graceful_shutdown=shutdown_timeout,
    )
    server = _Server(config, ready, stop)

    async def run() -> None:
        try:
            await server.serve(sockets)
        except SystemExit:
            # uvicorn exits the process when it cannot bind; the daemon decides that.
            raise OSError(
                f"cannot listen on {host}:{port} (the reason is logged just above)"
            ) from None

    task = asyncio.create_task(run(), name="http-server")
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True  # graceful: uvicorn notices on its next tick (0.1 s)
        try:
            await task
        except asyncio.CancelledError:
            server.force_exit = True
            raise
        raise
