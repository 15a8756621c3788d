"""Which way a call went, and who is who, from channel names, contexts and numbers."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from callscribe.domain import Direction

_UNKNOWN = frozenset({"", "<unknown>", "unknown", "s", "anonymous"})
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{6,}(;\d)?$")


@dataclass(frozen=True, slots=True)
class DirectionRules:
    """Configured contexts (FreePBX's by default) and the longest internal extension."""

    inbound_contexts: frozenset[str]
    internal_contexts: frozenset[str]
    extension_max_digits: int

    def direction(self, contexts: Collection[str], caller: str, dialled: str) -> Direction:
        """``contexts``: those the call's first channel went through, in any order."""
        if any(context in self.inbound_contexts for context in contexts):
            return Direction.INBOUND
        if any(context in self.internal_contexts for context in contexts):
            outside = self.is_outside(dialled)
            return Direction.OUTBOUND if outside else Direction.INTERNAL
        if self.is_outside(caller):
            return Direction.INBOUND
        if self.is_outside(dialled):
            return Direction.OUTBOUND
        if digits(caller) and digits(dialled):
            return Direction.INTERNAL
        return Direction.UNKNOWN

    def is_outside(self, number: str) -> bool:
        return len(digits(number)) > self.extension_max_digits


def digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def number(value: str | None) -> str | None:
    """A caller id as AMI gives it, or None for Asterisk's placeholders."""
    if value is None or value.strip().lower() in _UNKNOWN:
        return None
    return value.strip()


def peer_of(channel: str) -> str:
    """The device or extension a channel name stands for: ``PJSIP/101-0000002a`` → 101,
    ``Local/101@from-queue-00000003;1`` → 101, ``SIP/trunk-000001`` → trunk."""
    _, _, resource = channel.partition("/")
    if channel.lower().startswith("local/"):
        return resource.partition("@")[0]
    return _CHANNEL_SUFFIX.sub("", resource)


def is_local_helper(channel: str) -> bool:
    """The ``;2`` half of a Local channel runs dialplan on the callee's behalf; it is
    plumbing, never a party to the call."""
    return channel.lower().startswith("local/") and channel.endswith(";2")
