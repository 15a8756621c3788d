"""``callscribe deliveries [--dead] | retry ID… | retry --all-dead``: dead letters.

A delivery is one call's transcript going to one sink.  When a helpdesk refuses it for
good or the retries run out it is DEAD: listed here (reliability.md R-OUT-1) until the
admin fixes the cause and retries it.  A retried delivery keeps its idempotency key, so
a helpdesk that did receive it after all recognises the duplicate.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callscribe.cli.arguments import positive_int
from callscribe.cli.calls import NOT_FOUND, add_common, clean, local_time, open_store, print_table
from callscribe.domain import Delivery, DeliveryState
from callscribe.errors import CallscribeError
from callscribe.store.base import Store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deliveries",
        help="list transcript deliveries to helpdesks; find and retry dead ones",
        description=(
            "Without an ACTION, list deliveries of transcripts to the configured sinks with "
            "their state (pending, delivered, dead), attempts and last error. --dead lists "
            "only the ones that gave up: check them daily, retry them once the cause is fixed."
        ),
    )
    add_common(parser)
    parser.add_argument("--dead", action="store_true", help="only dead deliveries")
    parser.add_argument("--sink", metavar="NAME", help="only deliveries to this sink")
    parser.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="show the last N (50)"
    )
    parser.set_defaults(handler=list_deliveries)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    retry = actions.add_parser(
        "retry",
        help="deliver dead deliveries again",
        description=(
            "Queue dead deliveries again with a fresh set of retries, by call id (every "
            "dead delivery of the call, or only the one to --sink), or all of them with "
            "--all-dead. A helpdesk gets the same idempotency key as before, so one that "
            "did receive the transcript does not open a second ticket."
        ),
    )
    add_common(retry, inherited=True)
    retry.add_argument("ids", type=int, nargs="*", metavar="ID", help="call ids")
    retry.add_argument("--all-dead", action="store_true", help="every dead delivery")
    retry.add_argument(
        "--sink", metavar="NAME", default=argparse.SUPPRESS, help="only deliveries to this sink"
    )
    retry.set_defaults(handler=retry_deliveries)


def list_deliveries(args: argparse.Namespace) -> int:
    state = DeliveryState.DEAD if args.dead else None
    with open_store(args) as (_, store):
        deliveries = store.deliveries(state=state, sink=args.sink)
    shown = deliveries[-args.limit :]  # oldest calls first: the last N are recent
    if not shown:
        print("no dead deliveries" if args.dead else "no deliveries")
        return 0
    rows = [
        (str(d.call_id), clean(d.sink, args), d.state.value, str(d.attempts),
         local_time(d.delivered_at), clean(d.error, args, 70))
        for d in shown
    ]  # fmt: skip
    print_table(("CALL", "SINK", "STATE", "ATTEMPTS", "DELIVERED", "LAST ERROR"), rows)
    if len(shown) < len(deliveries):
        print(f"(the last {len(shown)} of {len(deliveries)}; --limit shows more)")
    dead = sum(1 for d in shown if d.state is DeliveryState.DEAD)
    if dead:
        print(
            f"\n{dead} dead: fix the cause (see LAST ERROR), then queue them again with\n"
            "  callscribe deliveries retry CALL...   or   callscribe deliveries retry --all-dead"
        )
    return 0


def retry_deliveries(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all_dead:
        raise CallscribeError("deliveries retry: give call ids or --all-dead (not both)")
    status = 0
    with open_store(args) as (_, store):
        if args.all_dead:
            dead = store.deliveries(state=DeliveryState.DEAD, sink=args.sink)
        else:
            dead = []
            for call_id in dict.fromkeys(args.ids):
                found = _dead_of_call(store, call_id, args)
                if not found:
                    status = NOT_FOUND
                dead += found
        revived = 0
        for delivery in dead:
            try:
                if store.revive_delivery(delivery.call_id, delivery.sink):
                    revived += 1
                    print(f"call {delivery.call_id} to {clean(delivery.sink, args)}: queued again")
            except ValueError as exc:
                print(f"callscribe: {exc}", file=sys.stderr)
                status = NOT_FOUND
    if args.all_dead and not dead:
        print("no dead deliveries" + (f" to {clean(args.sink, args)}" if args.sink else ""))
    elif revived:
        print(f"{revived} deliver{'y' if revived == 1 else 'ies'} queued again")
    return status


def _dead_of_call(store: Store, call_id: int, args: argparse.Namespace) -> list[Delivery]:
    """The call's dead deliveries (to ``--sink`` only, if given); says why when none."""
    try:
        store.call(call_id)
    except KeyError:
        print(f"callscribe: no call with id {call_id}", file=sys.stderr)
        return []
    dead = store.deliveries(call_id=call_id, state=DeliveryState.DEAD, sink=args.sink)
    if not dead:
        to = f" to {clean(args.sink, args)}" if args.sink else ""
        print(f"callscribe: call {call_id} has no dead delivery{to}", file=sys.stderr)
    return dead
