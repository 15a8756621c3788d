"""What a source and a sink must do.  Connectors are listed in ``registry.py``.

A **source** turns a vendor's event into :class:`~callscribe.domain.CallEvent` at the edge;
vendor payloads never travel further.  Webhook sources are mounted by the daemon's HTTP
server at ``/hooks/<source name>``; running sources (a watched directory, Asterisk AMI) are
started as tasks.  A **sink** renders a finished call for one API and posts it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from callscribe.connectors.fetch import FetchPolicy, RecordingFetcher
from callscribe.connectors.spool import FetchedFile
from callscribe.domain import Call, CallEvent, CallPart, Speaker, Transcript

Emit = Callable[[CallEvent], Awaitable[object]]
"""Hands an event to the store; returns once it is committed."""

PartsSoFar = Mapping[str, Mapping[str, Any]]
"""The parts of one call received so far, by part name (see :class:`JoiningSource`)."""


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

    async def handle(self, request: WebhookRequest) -> list[CallEvent | CallPart]:
        """Authenticate and parse one request.

        Raise ``SourceError(status=401)`` when it is not authentic (before parsing
        anything), ``SourceError(status=400)`` with the reason when it is malformed.
        An authentic request that carries nothing callscribe needs (a "call started"
        notification) returns an empty list.  A source whose vendor reports one call in
        several notifications returns :class:`CallPart` s and is a :class:`JoiningSource`.
        """
        ...


@runtime_checkable
class JoiningSource(Protocol):
    """A source whose vendor reports one call in several notifications.

    Each part is committed to the store before the notification is acknowledged; after
    every new part, and at each housekeeping round for the calls still waiting, the
    daemon asks :meth:`join` for the call.  Parts of a call that was already stored are
    dropped with a warning.
    """

    name: str

    def join(self, external_id: str, parts: PartsSoFar, waited: float) -> CallEvent | None:
        """The call these parts make, or None to keep waiting for more.

        ``waited`` is how many seconds ago the first part came: a source gives up waiting
        (for a recording that never comes, say) after a configured time and returns the
        call it has.
        """
        ...


@runtime_checkable
class RunningSource(Protocol):
    """A source the daemon runs (a watched folder, an AMI connection).

    Where several nodes share one PostgreSQL queue, a running source runs on one node at
    a time (the others wait to take over): two copies would watch the same folder or log
    in to the same PBX twice.  A source whose copies can run side by side says so with a
    class attribute ``single_instance = False`` (see :func:`single_instance`).
    """

    name: str

    async def run(self, emit: Emit) -> None:
        """Produce events until cancelled; must survive its peer going away."""
        ...


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How a running source's link to its PBX is, for ``/readyz`` and ``/metrics``.

    ``ready``: it can hear calls now.  ``state``: a word or two for people ("connected",
    "login refused").  ``connects``: how many times it (re)connected since it started.
    """

    ready: bool
    state: str
    connects: int = 0


@runtime_checkable
class ReportingSource(Protocol):
    """A running source that holds a link to its PBX (AMI) and can say how it is."""

    name: str

    def status(self) -> SourceStatus: ...


def single_instance(source: RunningSource) -> bool:
    """Whether only one node may run ``source`` at a time (the default)."""
    return bool(getattr(source, "single_instance", True))


@runtime_checkable
class BackfillSource(Protocol):
    """A source whose vendor keeps a call history that ``callscribe backfill`` reads."""

    name: str

    def calls_on(self, day: date) -> AsyncIterator[CallEvent]:
        """Every finished call of one day (in the source's time zone), as its live
        notifications would have reported it: the same ``external_id``, so a call seen
        both ways is one call.  Paging and the vendor's rate limits are the source's
        business; raise ``SourceError`` or ``FetchError`` saying why a day cannot be read.
        """
        ...


@runtime_checkable
class FetchingSource(Protocol):
    """A source that fetches its own recordings: through a vendor API that needs its
    credentials (Mango's signed request, Calltouch's download API), or from a PBX's spool
    with a path map and a wait for the file to be complete (Asterisk).  Sources without
    this method get their ``RecordingRef.location`` fetched as a URL or allowed path."""

    name: str

    async def fetch_recording(
        self, call: Call, fetcher: RecordingFetcher, policy: FetchPolicy, dest_dir: Path
    ) -> FetchedFile:
        """Put the call's recording (one file, any format ``audio.py`` reads) into
        ``dest_dir``; raise ``FetchError(retryable=...)`` saying why not."""
        ...


@runtime_checkable
class ThrottledSource(Protocol):
    """A source whose vendor can turn its API calls away for a while (Mango blocks its
    API for two minutes after invalid requests): the source stops calling, and the
    daemon's metrics show for how long (``callscribe_source_api_paused_seconds``)."""

    name: str

    def api_paused_seconds(self) -> float:
        """Seconds until the source calls its vendor's API again; 0 when it may."""
        ...


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What one attempt to deliver a call knows besides the call and its transcript.

    ``key`` is the same on every retry of this delivery: send it as an idempotency key
    where the API supports one.  ``progress`` is what earlier attempts saved with
    ``save``; a sink that does its work in several requests (create a ticket, then
    comment on it) saves each remote id the moment the platform returns it, so an attempt
    after a crash continues where the last one stopped instead of repeating it.
    ``recording`` is the fetched file while it is kept (None for a missed call or once
    retention deleted it); ``recording_url`` a link the platform can fetch it from, if
    there is one: the source's own URL where the source shares it
    (``share_recording_urls``), else callscribe's signed link when ``[daemon]
    public_url`` is set (docs/recording-links.md).  Without one, say the recording stays
    on the PBX.
    ``channels`` says who is on the recording's left and right channel (the daemon's
    decision: the recording's own map, the source's, ``[transcription]``), for a platform
    that needs the operator on a given side (T-Bank TQM).
    """

    key: str
    progress: Mapping[str, Any]
    save: Callable[[Mapping[str, Any]], Awaitable[None]]
    recording: Path | None = None
    recording_url: str | None = None
    channels: tuple[Speaker, Speaker] = (Speaker.OPERATOR, Speaker.CLIENT)


class Sink(Protocol):
    name: str

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        """Post one call (``transcript`` is None for a call without a recording).

        Return the remote id (ticket, comment) if any.  Raise ``SinkError(retryable=...)``
        on failure; never return to report one.
        """
        ...

    async def aclose(self) -> None: ...
