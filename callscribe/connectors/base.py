"""What a source and a sink must do.  Connectors are listed in ``registry.py``.

A **source** turns a vendor's event into :class:`~callscribe.domain.CallEvent` at the edge;
vendor payloads never travel further.  Webhook sources are mounted by the daemon's HTTP
server at ``/hooks/<source name>``; running sources (a watched directory, Asterisk AMI) are
started as tasks.  A **sink** renders a finished call for one API and posts it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from callscribe.domain import Call, CallEvent, Transcript

Emit = Callable[[CallEvent], Awaitable[object]]
"""Hands an event to the store; returns once it is committed."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One HTTP request to ``/hooks/<source>``, body already read (size-limited)."""

    method: str
    path: str  # the part after /hooks/<source>, e.g. "/events/summary" for Mango
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_ip: str | None


@runtime_checkable
class WebhookSource(Protocol):
    name: str

    async def handle(self, request: WebhookRequest) -> list[CallEvent]:
        """Authenticate and parse one request.

        Raise ``SourceError(status=401)`` when it is not authentic (before parsing
        anything), ``SourceError(status=400)`` with the reason when it is malformed.
        An authentic request that carries nothing callscribe needs (a "call started"
        notification) returns an empty list.
        """
        ...


@runtime_checkable
class RunningSource(Protocol):
    name: str

    async def run(self, emit: Emit) -> None:
        """Produce events until cancelled; must survive its peer going away."""
        ...


class Sink(Protocol):
    name: str

    async def deliver(self, call: Call, transcript: Transcript | None, key: str) -> str | None:
        """Post one call (``transcript`` is None for a call without a recording).

        ``key`` is the same on every retry of this delivery: send it as an idempotency
        key where the API supports one.  Return the remote id (ticket, comment) if any.
        Raise ``SinkError(retryable=...)`` on failure; never return to report one.
        """
        ...

    async def aclose(self) -> None: ...
