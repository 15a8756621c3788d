"""``callscribe routes test --call ID``: which routes take a stored call, and why not.

Routes are checked against the configuration as it is now, so a route being written can
be tried on calls that already came in.  Values from the call are masked and escaped as
in ``callscribe calls``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callscribe.cli.common import NOT_FOUND, add_common, clean, open_store
from callscribe.config.routes import sinks_for


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "routes",
        help="check which routes take a call",
        description="Check the [[routes]] of the configuration against calls.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test",
        help="say which routes take a stored call, and why the others do not",
        description=(
            "Check every route against a call callscribe has stored (the first column of "
            "'callscribe calls'), with the configuration as it is now: which routes take "
            "it, which sinks it would go to, and for each other route the conditions it "
            "fails. Phone numbers are masked unless --show-numbers is given."
        ),
    )
    add_common(test)
    test.add_argument("--call", type=int, required=True, metavar="ID", help="call id")
    test.set_defaults(handler=test_routes)


def test_routes(args: argparse.Namespace) -> int:
    with open_store(args) as (settings, store):
        try:
            call = store.call(args.call)
        except KeyError:
            print(f"callscribe: no call with id {args.call}", file=sys.stderr)
            return NOT_FOUND
        deliveries = store.deliveries(call_id=call.id)
    event = call.event
    kind = "recorded" if event.recordings else "without a recording"
    print(
        f"Call {call.id}: source {clean(event.source, args)}, external id "
        f"{clean(event.external_id, args)}, {event.direction.value}, {kind}"
    )
    if not settings.routes:
        print("  no routes are configured: no call goes anywhere")
    for number, route in enumerate(settings.routes, start=1):
        to = ", ".join(route.sinks)
        reasons = route.mismatches(event)
        print(f"  route {number} (to {to}): " + ("takes it" if not reasons else "does not"))
        for reason in reasons:
            print(f"    - {clean(reason, args)}")
    chosen = sinks_for(settings.routes, event)
    print(f"Sinks now: {', '.join(chosen) if chosen else 'none (no route)'}")
    if deliveries:
        done = ", ".join(f"{clean(d.sink, args)} ({d.state.value})" for d in deliveries)
        print(f"Delivered when it came in: {done}")
    return 0 if chosen else NOT_FOUND
