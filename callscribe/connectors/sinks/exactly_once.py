"""Post a delivery's comments once, across retries and crashes (R-OUT-3).

A helpdesk delivery is several requests (find or create the ticket, then one or more
comments), and none of these platforms takes an idempotency key.  So every remote id is
saved in the delivery's progress the moment the platform returns it, and before each
comment the delivery saves that it is *about to* post it.  An attempt that finds such a
note without the comment's id knows the previous one may have posted it without hearing
back (a timeout, a kill -9 between the platform's answer and the save): it lists the
ticket's comments and looks for the part's marker (``comment_split.marker``) before posting
again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.comment_split import marker_prefix

log = logging.getLogger(__name__)

#: Posts one part's text as a comment; returns the platform's comment id.
PostPart = Callable[[str], Awaitable[str | None]]
#: The comments already on the ticket: (comment id, text) pairs.
PostedComments = Callable[[], Awaitable[Iterable[tuple[str | None, str]]]]


class Progress:
    """What this delivery has done so far; each step is saved as soon as it is known."""

    def __init__(self, context: DeliveryContext) -> None:
        self._values: dict[str, Any] = dict(context.progress)
        self._save = context.save

    def get(self, key: str) -> Any:
        return self._values.get(key)

    async def record(self, **values: Any) -> None:
        self._values.update(values)
        await self._save(values)


async def post_parts(
    sink: str,
    parts: Sequence[str],
    progress: Progress,
    *,
    key: str,
    post: PostPart,
    posted_comments: PostedComments | None,
) -> dict[str, str]:
    """Post every part not yet known to be posted; returns comment ids by part number
    (as strings: JSON keys).  ``posted_comments`` None: the platform cannot be asked, so a
    part whose answer was lost is posted again (with a warning)."""
    done: dict[str, str] = dict(progress.get("comments") or {})
    on_platform: list[tuple[str | None, str]] | None = None
    for number, text in enumerate(parts, start=1):
        if str(number) in done:
            continue
        if progress.get("posting") == number:
            if posted_comments is None:
                log.warning(
                    "sink %s: part %d of this call may already be on the ticket (the last "
                    "attempt did not hear back) and cannot be checked; posting it again",
                    sink,
                    number,
                )
            else:
                if on_platform is None:
                    on_platform = list(await posted_comments())
                found = find_part(on_platform, key, number)
                if found is not None:
                    done[str(number)] = found
                    await progress.record(comments=done, posting=None)
                    continue
        await progress.record(posting=number)
        comment_id = await post(text)
        done[str(number)] = comment_id or ""
        await progress.record(comments=done, posting=None)
    return done


def find_part(comments: Iterable[tuple[str | None, str]], key: str, number: int) -> str | None:
    """The id of the comment carrying part ``number``'s marker ("" when the platform gave
    none), or None when no comment does."""
    needle = marker_prefix(key, number)
    for comment_id, text in comments:
        if needle in text:
            return comment_id or ""
    return None


def text_id(value: Any) -> str | None:
    """A platform id as text (they come as numbers or strings), or None."""
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        return None
    return str(value)


def comments_of(items: Any, text_key: str) -> list[tuple[str | None, str]]:
    """(id, text) of each comment object in a platform's list; anything else is skipped."""
    if not isinstance(items, list):
        return []
    return [
        (text_id(item.get("id")), str(item.get(text_key) or ""))
        for item in items
        if isinstance(item, Mapping)
    ]
