"""Turn a followed call into the :class:`CallEvent` callscribe stores.

Who is the client: the call's first channel on an inbound call, the channel it dialled on
an outbound one.  Who is the operator: of the channels on the other side, the one that
spent longest in a bridge (a transferred or queued call keeps the operator who talked
longest), its extension read from the channel name.  A call is answered when one of its
Dials (or Queue's) ended with ANSWER; a missed or abandoned call carries no recording
(MixMonitor still leaves header-only files for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callscribe.connectors.sources.asterisk.calls import Channel, OpenCall
from callscribe.connectors.sources.asterisk.direction import (
    DirectionRules,
    is_local_helper,
    number,
    peer_of,
)
from callscribe.connectors.sources.asterisk.plan import RecordingPlan
from callscribe.domain import CallEvent, Direction, RecordingRef, Speaker


@dataclass(frozen=True, slots=True)
class Sides:
    direction: Direction
    client: Channel | None
    operator: Channel | None
    client_number: str | None
    line_number: str | None


def call_event(source: str, call: OpenCall, rules: DirectionRules) -> CallEvent | None:
    """The call as an event, or None for what is not a call to report (a feature code, a
    call that neither rang anyone nor was recorded nor came from outside)."""
    sides = _sides(call, rules)
    answered = call.answered_at is not None or call.recorded_audio
    plan = _plan(call, sides) if answered else None
    dialled = any(c.dialled for c in call.channels.values())
    if not (answered or dialled or plan or sides.direction is Direction.INBOUND):
        return None
    operator = sides.operator
    extension = peer_of(operator.name) if operator else None
    raw: dict[str, Any] = {
        "linkedid": call.linkedid,
        "dial_status": call.dial_statuses[-1] if call.dial_statuses else None,
        "channels": [c.name for c in call.channels.values() if c.name],
        "contexts": sides.client.contexts if sides.client else [],
        "partial": call.partial,
        "cdr": call.cdrs,
    }
    if call.recovered:
        raw["recovered"] = call.recovered
    if plan is not None:
        raw["recording"] = plan.to_raw()
    return CallEvent(
        source=source,
        external_id=call.linkedid,
        direction=sides.direction,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at or call.answered_at or call.started_at,
        client_number=sides.client_number,
        line_number=sides.line_number,
        operator_id=extension or None,
        operator_name=_operator_name(operator, sides.client, extension),
        recordings=(RecordingRef(plan.location, plan.channels),) if plan else (),
        raw=raw,
    )


def _sides(call: OpenCall, rules: DirectionRules) -> Sides:
    first = call.first
    if first is None:
        return Sides(Direction.UNKNOWN, None, None, None, None)
    others = [c for c in call.channels.values() if c is not first and not is_local_helper(c.name)]
    callee = max(others, key=lambda c: (c.bridged_seconds, c.dialled), default=None)
    direction = rules.direction(first.contexts, first.caller_num, first.exten)
    if direction is Direction.OUTBOUND:
        dialled = dialable(first.exten) or (dialable(callee.connected_num) if callee else None)
        return Sides(direction, callee, first, dialled, None)
    line = dialable(first.exten) if direction is Direction.INBOUND else None
    return Sides(direction, first, callee, number(first.caller_num), line)


def _plan(call: OpenCall, sides: Sides) -> RecordingPlan | None:
    if call.plan is None or not call.plan.files:
        return None
    recorded = call.channels.get(call.recorded_uniqueid or "")
    on_operator_side = recorded is not None and recorded is sides.operator
    return call.plan.on_side(Speaker.OPERATOR if on_operator_side else Speaker.CLIENT)


def _operator_name(
    operator: Channel | None, client: Channel | None, extension: str | None
) -> str | None:
    """The operator's caller-id name, where AMI shows it next to the extension's number."""
    if operator is None or not extension:
        return None
    if operator.caller_num == extension and number(operator.caller_name):
        return operator.caller_name
    if client is not None and client.connected_num == extension and number(client.connected_name):
        return client.connected_name
    return None


def dialable(value: str | None) -> str | None:
    """A number as dialled (digits, +, *, #), None for an extension name such as 's'."""
    value = number(value)
    if value and any(c.isdigit() for c in value) and all(c.isdigit() or c in "+*#" for c in value):
        return value
    return None
