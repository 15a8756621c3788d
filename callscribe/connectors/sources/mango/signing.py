"""Mango's signed form posts, both ways (VPBX API v1.9 §2.4.3).

Every request, to Mango and from it, is an ``application/x-www-form-urlencoded`` form with
three fields: ``vpbx_api_key`` (the PBX's code), ``json`` (the payload as a JSON string)
and ``sign = sha256_hex(vpbx_api_key + json + vpbx_api_salt)``.  A notification is
checked on those raw form values, in constant time, before its JSON is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from callscribe.config.base import Secret
from callscribe.connectors.base import WebhookRequest
from callscribe.errors import SourceError

FORM = "application/x-www-form-urlencoded"
FIELDS = ("vpbx_api_key", "sign", "json")


def mango_sign(api_key: str, json_text: str, salt: str) -> str:
    """``sign`` for one request: lower-case hex SHA-256 of key + json + salt (UTF-8)."""
    return hashlib.sha256((api_key + json_text + salt).encode("utf-8")).hexdigest()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Credentials:
    """One PBX's key and salt: signs what callscribe sends, checks what Mango sends."""

    def __init__(self, api_key: Secret, salt: Secret) -> None:
        self._key = api_key
        self._salt = salt
        # Hashed before comparing, so the comparison also hides the key's length.
        self._key_digest = _digest(api_key.reveal())

    def form(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """The three form fields of a request carrying ``payload``."""
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        key = self._key.reveal()
        return {
            "vpbx_api_key": key,
            "sign": mango_sign(key, text, self._salt.reveal()),
            "json": text,
        }

    def verify(self, fields: Mapping[str, str]) -> str:
        """The ``json`` text of an authentic notification; ``SourceError(401)`` otherwise."""
        key, sign, text = (fields.get(name) for name in FIELDS)
        if key is None or sign is None or text is None:
            raise SourceError(
                "not a signed Mango request: vpbx_api_key, sign and json expected", status=401
            )
        # Signed with our key, not the one sent: a request under another PBX's key fails
        # both checks.  Both always run, so the time taken does not say which one failed.
        expected = mango_sign(self._key.reveal(), text, self._salt.reveal())
        key_ok = hmac.compare_digest(_digest(key), self._key_digest)
        sign_ok = hmac.compare_digest(_digest(sign), _digest(expected))
        if not (key_ok and sign_ok):
            raise SourceError("wrong vpbx_api_key or sign", status=401)
        return text


def read_form(request: WebhookRequest) -> dict[str, str] | None:
    """The form fields of a notification; None for Mango's empty connection check
    («Проверить подключение»).  Raise ``SourceError`` for anything but one form."""
    if not request.body.strip():
        return None
    if request.method != "POST":
        raise SourceError("Mango notifications are POST requests", status=405)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise SourceError(f"expected {FORM}, got {media[:60] or 'no content type'}", status=415)
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=20
        )
    except ValueError:  # UnicodeDecodeError too
        raise SourceError("the body is not a valid UTF-8 form", status=400) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise SourceError(f"form field {name[:40]!r} appears twice", status=400)
        fields[name] = value
    return fields
