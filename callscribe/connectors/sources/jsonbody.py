"""A webhook body as one JSON object, strictly: what is ambiguous is refused with a reason."""

from __future__ import annotations

import json
from typing import Any

from callscribe.errors import SourceError


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; which one the sender meant is a guess.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SourceError(f"key {key[:40]!r} appears twice in one object", status=400)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise SourceError(f"{name} is not valid JSON", status=400)


def parse_object(body: bytes | str, what: str = "body") -> dict[str, Any]:
    """The JSON object ``body`` holds; ``SourceError(400)`` saying why when it is none
    (not JSON, not an object, a key given twice, NaN or Infinity, half a UTF-16 pair).
    ``what`` names it in the message ("body", "the file")."""
    if not body.strip():
        raise SourceError(f"empty {what}: expected a JSON object", status=400)
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise SourceError(f"{what} is not JSON: {reason}", status=400) from None
    if not isinstance(data, dict):
        raise SourceError(f"{what} must be a JSON object", status=400)
    try:
        # Half of a UTF-16 pair (an escape such as "\ud800", or its bytes, which json
        # decodes with "surrogatepass") is no character: it could be neither stored nor
        # sent on as UTF-8, so it is refused here rather than by the database.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise SourceError(f"{what} holds half of a UTF-16 pair, which is no character") from None
    return data
