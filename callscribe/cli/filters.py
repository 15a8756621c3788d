"""Which stored calls a command is about: the options ``calls list`` and ``retranscribe``
share, turned into one :class:`~callscribe.store.base.CallFilter`.

Dates are this machine's local days (``--until 2026-11-07`` includes the whole 7th) or
local times (``2026-11-07T18:00``); a call's time is when it started, as its source said.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from callscribe.domain import CallState
from callscribe.errors import ConfigError
from callscribe.phones import phone_key
from callscribe.store.base import CallFilter


def add_call_filters(
    parser: argparse.ArgumentParser, *, inherited: bool = False, text: bool = True
) -> None:
    """The filter options; ``inherited`` on an action of a command that has them too
    (SUPPRESS keeps a value given before the action's name)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if inherited else value

    parser.add_argument(
        "--since", type=moment, default=default(None), metavar="DATE",
        help="calls from this day (or local time: 2026-11-01T09:00) on",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=moment, default=default(None), metavar="DATE",
        help="calls up to the end of this day (or up to this local time)",
    )  # fmt: skip
    parser.add_argument(
        "--source", default=default(None), metavar="NAME", help="only calls from this source"
    )
    parser.add_argument(
        "--operator", default=default(None), metavar="ID", help="only calls of this operator id"
    )
    parser.add_argument(
        "--state",
        choices=[state.value for state in CallState],
        default=default(None),
        help="only calls in this state",
    )
    if text:
        parser.add_argument(
            "--number", default=default(None), metavar="PHONE",
            help="only calls with this client or line number, however written",
        )  # fmt: skip
        parser.add_argument(
            "--text", default=default(None), metavar="WORDS",
            help="only calls whose transcript says this (any letter case)",
        )  # fmt: skip


def moment(text: str) -> tuple[datetime, bool]:
    """A local date or time, and whether it was a whole day."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date like 2026-11-20 or a time like 2026-11-20T09:00"
        ) from None
    whole_day = "T" not in text and " " not in text.strip()
    return (parsed if parsed.tzinfo else parsed.astimezone()), whole_day


def call_filter(args: argparse.Namespace, call_ids: tuple[int, ...] = ()) -> CallFilter:
    since = getattr(args, "since", None)
    until = getattr(args, "until", None)
    end = None
    if until is not None:
        moment_, whole_day = until
        end = moment_ + timedelta(days=1) if whole_day else moment_
    state = getattr(args, "state", None)
    number = getattr(args, "number", None)
    if number is not None and phone_key(number) is None:
        raise ConfigError(f"--number {number!r} is not a phone number (10 to 15 digits)")
    return CallFilter(
        since=None if since is None else since[0],
        until=end,
        source=getattr(args, "source", None),
        operator=getattr(args, "operator", None),
        number=getattr(args, "number", None),
        state=None if state is None else CallState(state),
        text=getattr(args, "text", None),
        call_ids=call_ids,
    )


def described(where: CallFilter) -> bool:
    """Whether any filter was given (to say "no calls matching the filters")."""
    return where != CallFilter()
