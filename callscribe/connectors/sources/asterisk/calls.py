"""Follow calls across their channels by Linkedid and tell when each has ended.

Every channel event carries ``Uniqueid`` and ``Linkedid`` (the Uniqueid of the call's
first channel); ``Cdr`` events carry only ``UniqueID``, so they are matched through the
channels seen.  A call has ended when its last channel has hung up; it is handed over
``cdr_wait`` seconds later, because Asterisk may send its Cdr events after the Hangup.
A call whose events stop without a hangup (lost while AMI was down, or filtered out) is
handed over after ``stale_after`` seconds with what is known.

Nothing here blocks or touches the disk: it runs inside the AMI reader, once per message.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callscribe.connectors.sources.asterisk.plan import RecordingPlan, from_files, from_mixmonitor

Message = Mapping[str, object]

# Calls followed at once, and calls remembered after they were handed over (so that a
# straggling event does not start them again).  Far above any PBX's concurrent calls.
MAX_OPEN_CALLS = 20_000
MAX_REMEMBERED = 50_000
MAX_CDRS_PER_CALL = 32
MAX_CHANNELS_PER_CALL = 256  # a conference is far smaller; a looping dialplan is not


def text(message: Message, key: str) -> str:
    """A header's value; the first one when AMI repeated the header, "" when absent."""
    value = message.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def values(message: Message, key: str) -> list[str]:
    value = message.get(key)
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


@dataclass(slots=True)
class Channel:
    uniqueid: str
    name: str = ""
    contexts: list[str] = field(default_factory=list)  # in the order first entered
    exten: str = ""  # the extension it was created for: the number dialled
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    dialled: bool = False  # the destination of a Dial (or Queue)
    bridged_since: datetime | None = None
    bridged_seconds: float = 0.0
    hung_up: bool = False

    def enter(self, context: str) -> None:
        if context and context not in self.contexts and len(self.contexts) < 32:
            self.contexts.append(context)

    def leave_bridge(self, now: datetime) -> None:
        if self.bridged_since is not None:
            self.bridged_seconds += max(0.0, (now - self.bridged_since).total_seconds())
            self.bridged_since = None


@dataclass(slots=True)
class OpenCall:
    """What is known of one call so far."""

    linkedid: str
    started_at: datetime
    last_event: float  # monotonic seconds
    session: int  # the AMI session that last spoke of it
    partial: bool  # first seen after it began (AMI was down at its start)
    channels: dict[str, Channel] = field(default_factory=dict)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ended_mono: float | None = None
    dial_statuses: list[str] = field(default_factory=list)
    plan: RecordingPlan | None = None
    recorded_uniqueid: str | None = None
    recorded_audio: bool = False  # its files hold audio: it was answered, whatever AMI said
    recovered: str | None = None  # its end was not heard: how the gap's reconciliation knew
    cdrs: list[dict[str, str]] = field(default_factory=list)

    @property
    def first(self) -> Channel | None:
        return self.channels.get(self.linkedid) or next(iter(self.channels.values()), None)


@dataclass(frozen=True, slots=True)
class Settings:
    monitor_dir: str
    leg_suffixes: tuple[str, str]
    raw_stereo: bool
    cdr_wait: float
    stale_after: float


class CallAssembler:
    """Feeds on AMI messages, yields calls that have ended."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: dict[str, OpenCall] = {}
        self._by_uniqueid: dict[str, str] = {}  # channel Uniqueid -> Linkedid
        self._done: OrderedDict[str, None] = OrderedDict()  # handed over: Linkedids, Uniqueids
        self.session = 0
        self.dropped = 0  # calls given up because too many were open

    # --- feeding ---------------------------------------------------------------------

    def handle(self, message: Message, now: datetime, mono: float) -> None:
        """Take one AMI event; ``now`` is when it arrived, unless it carries a Timestamp."""
        event = text(message, "Event")
        if not event:
            return
        now = _stamp(message) or now
        if event == "Cdr":
            self._cdr(message)
            return
        linkedid = text(message, "Linkedid")
        uniqueid = text(message, "Uniqueid")
        if not linkedid or not uniqueid or linkedid in self._done:
            return
        call = self._call(linkedid, now, mono, created=event == "Newchannel")
        if call is None or (
            uniqueid not in call.channels and len(call.channels) >= MAX_CHANNELS_PER_CALL
        ):
            return
        call.last_event, call.session = mono, self.session
        channel = self._channel(call, uniqueid, message)
        for variable in values(message, "ChanVariable"):
            name, _, value = variable.partition("=")
            if name == "MIXMONITOR_FILENAME" and value:
                self._mixed_file(call, channel, value)
        handler = _HANDLERS.get(event)
        if handler is not None:
            handler(self, call, channel, message, now)
        if event != "Hangup" and call.ended_at is not None and not channel.hung_up:
            call.ended_at = call.ended_mono = None  # a new channel joined before hand-over

    def _call(self, linkedid: str, now: datetime, mono: float, *, created: bool) -> OpenCall | None:
        call = self.calls.get(linkedid)
        if call is None:
            if len(self.calls) >= MAX_OPEN_CALLS:
                self.dropped += 1
                return None
            call = OpenCall(linkedid, now, mono, self.session, partial=not created)
            self.calls[linkedid] = call
        return call

    def _channel(self, call: OpenCall, uniqueid: str, message: Message) -> Channel:
        channel = call.channels.get(uniqueid)
        if channel is None:
            channel = Channel(uniqueid, exten=text(message, "Exten"))
            call.channels[uniqueid] = channel
            self._by_uniqueid[uniqueid] = call.linkedid
        channel.name = text(message, "Channel") or channel.name
        channel.enter(text(message, "Context"))
        for attribute, key in (
            ("caller_num", "CallerIDNum"),
            ("caller_name", "CallerIDName"),
            ("connected_num", "ConnectedLineNum"),
            ("connected_name", "ConnectedLineName"),
        ):
            if key in message:
                setattr(channel, attribute, text(message, key))
        return channel

    def _newexten(self, call: OpenCall, channel: Channel, message: Message, _: datetime) -> None:
        if text(message, "Application").lower() != "mixmonitor":
            return
        plan = from_mixmonitor(text(message, "AppData"), self.settings.monitor_dir)
        if call.plan is None or call.recorded_uniqueid == channel.uniqueid:
            mixed = call.plan.mixed if call.plan and call.plan.mixed else plan.mixed
            call.plan = RecordingPlan(mixed, plan.read, plan.write, plan.interleaved)
            call.recorded_uniqueid = channel.uniqueid

    def _varset(self, call: OpenCall, channel: Channel, message: Message, _: datetime) -> None:
        if text(message, "Variable") == "MIXMONITOR_FILENAME" and text(message, "Value"):
            self._mixed_file(call, channel, text(message, "Value"))

    def _mixed_file(self, call: OpenCall, channel: Channel, path: str) -> None:
        """MixMonitor's real file name, which may differ from the one it was given."""
        if call.plan is None:
            s = self.settings
            call.plan = from_files([path], s.leg_suffixes, s.raw_stereo)
            call.recorded_uniqueid = channel.uniqueid
        elif call.recorded_uniqueid == channel.uniqueid and call.plan.mixed != path:
            p = call.plan
            call.plan = RecordingPlan(path, p.read, p.write, p.interleaved, p.recorded_side)

    def _dial_begin(self, call: OpenCall, channel: Channel, message: Message, _: datetime) -> None:
        destination = text(message, "DestUniqueid")
        if destination and text(message, "Channel"):  # without a caller: an Originate
            callee = call.channels.get(destination)
            if callee is None and len(call.channels) < MAX_CHANNELS_PER_CALL:
                callee = Channel(destination, name=text(message, "DestChannel"))
                callee.exten = text(message, "DestExten")
                call.channels[destination] = callee
                self._by_uniqueid[destination] = call.linkedid
            if callee is not None:
                callee.dialled = True

    def _dial_end(self, call: OpenCall, channel: Channel, message: Message, now: datetime) -> None:
        if not text(message, "Channel"):
            return  # the end of an Originate's dial, not of a call's
        status = text(message, "DialStatus").upper()
        if status and len(call.dial_statuses) < 64:
            call.dial_statuses.append(status)
        if status == "ANSWER" and call.answered_at is None:
            call.answered_at = now

    def _bridge_enter(self, call: OpenCall, channel: Channel, _: Message, now: datetime) -> None:
        channel.bridged_since = channel.bridged_since or now

    def _bridge_leave(self, call: OpenCall, channel: Channel, _: Message, now: datetime) -> None:
        channel.leave_bridge(now)

    def _hangup(self, call: OpenCall, channel: Channel, _: Message, now: datetime) -> None:
        channel.leave_bridge(now)
        channel.hung_up = True
        if all(c.hung_up for c in call.channels.values()):
            call.ended_at, call.ended_mono = now, call.last_event

    def _cdr(self, message: Message) -> None:
        linkedid = self._by_uniqueid.get(text(message, "UniqueID"))
        call = self.calls.get(linkedid or "")
        if call is None or len(call.cdrs) >= MAX_CDRS_PER_CALL:
            return
        keep = ("UniqueID", "Channel", "DestinationChannel", "Source", "Destination",
                "DestinationContext", "Disposition", "StartTime", "AnswerTime", "EndTime",
                "Duration", "BillableSeconds", "LastApplication", "UserField")  # fmt: skip
        call.cdrs.append({key: text(message, key) for key in keep})

    # --- handing over ----------------------------------------------------------------

    def due(self, mono: float) -> Iterator[OpenCall]:
        """Calls to hand over now: ended and past the Cdr wait, or silent too long."""
        s = self.settings
        ready = [
            call
            for call in self.calls.values()
            if (call.ended_mono is not None and mono - call.ended_mono >= s.cdr_wait)
            or mono - call.last_event >= s.stale_after
        ]
        for call in ready:
            yield self.pop(call.linkedid)

    def pop(self, linkedid: str) -> OpenCall:
        """Stop following a call and remember that it was handed over."""
        call = self.calls.pop(linkedid)
        for uniqueid in call.channels:
            self._by_uniqueid.pop(uniqueid, None)
            self._remember(uniqueid)
        self._remember(linkedid)
        return call

    def _remember(self, key: str) -> None:
        self._done[key] = None
        while len(self._done) > MAX_REMEMBERED:
            self._done.popitem(last=False)

    def handed_over(self, key: str) -> bool:
        return key in self._done

    def find(self, key: str) -> OpenCall | None:
        """The open call a Linkedid or a channel's Uniqueid belongs to."""
        return self.calls.get(key) or self.calls.get(self._by_uniqueid.get(key, ""))

    def forget(self, key: str) -> None:
        """Remember a call reported some other way (from its files) as handed over."""
        self._remember(key)

    def new_session(self) -> int:
        """A new AMI session began: calls last heard of in an older one may have ended
        while nobody listened (see ``recovery.py``)."""
        self.session += 1
        return self.session


def _stamp(message: Message) -> datetime | None:
    """The event's own time when manager.conf has ``timestampevents = yes``."""
    stamp = text(message, "Timestamp")
    try:
        return datetime.fromtimestamp(float(stamp), tz=UTC) if stamp else None
    except (ValueError, OverflowError, OSError):
        return None


_HANDLERS = {
    "Newexten": CallAssembler._newexten,
    "VarSet": CallAssembler._varset,
    "DialBegin": CallAssembler._dial_begin,
    "DialEnd": CallAssembler._dial_end,
    "BridgeEnter": CallAssembler._bridge_enter,
    "BridgeLeave": CallAssembler._bridge_leave,
    "Hangup": CallAssembler._hangup,
}
