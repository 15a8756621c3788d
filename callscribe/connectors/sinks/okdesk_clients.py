"""Who called, in Okdesk's terms: the contact or company with the call's phone number, or
a new contact for a number Okdesk has not seen (the UIS–Okdesk integration's «создание
карточки при звонке от нового клиента»).

Okdesk documents an exact-match ``phone`` search for companies (``+`` must be sent as
``%2B``; httpx encodes it so).  For contacts it documents only ``search_string`` (a
substring); working clients also send ``phone``.  Which one is used is a setting, and
substring results are compared digit by digit so a longer number never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from callscribe.connectors.sinks.call_values import PHONE_FORMATS_HELP, PhoneFormat, answered_id
from callscribe.connectors.sinks.comment import CommentSettings
from callscribe.connectors.sinks.exactly_once import Progress
from callscribe.connectors.sinks.platform import PlatformAPI
from callscribe.domain import CallEvent

ClientSearch = Literal["phone", "search_string"]
_NON_DIGITS = re.compile(r"\D")


class OkdeskClientSettings(CommentSettings):
    """How the Okdesk sink finds who called."""

    phone_format: PhoneFormat = Field(
        "e164",
        description=f"How the client's number is searched and stored: {PHONE_FORMATS_HELP}. "
        "Okdesk matches phones exactly as they were typed into its cards.",
    )
    contact_search: ClientSearch = Field(
        "phone",
        description="How contacts are searched: 'phone' (the phone parameter, seen in "
        "working clients but not in Okdesk's documentation) or 'search_string' (documented "
        "substring search; results are then compared digit by digit).",
    )
    create_contacts: bool = Field(
        True, description="Create a contact for a number no contact or company has."
    )
    new_contact_name: str = Field(
        "Клиент",
        min_length=1,
        description="First name of a created contact; its last name is the phone number.",
    )


class ClientLookup:
    def __init__(self, api: PlatformAPI, settings: OkdeskClientSettings) -> None:
        self._api = api
        self._settings = settings

    async def find(self, event: CallEvent, progress: Progress) -> dict[str, int]:
        """``contact_id`` or ``company_id`` for a new issue (empty when the call has no
        number, or it is unknown and contacts are not created); saved in ``progress``."""
        for key in ("contact_id", "company_id"):
            if progress.get(key) is not None:
                return {key: progress.get(key)}
        number = self._settings.client_phone(event)
        if number is None:
            return {}
        found = await self._contact(number)
        key = "contact_id"
        if found is None:
            found = _first_id(await self._api.call("GET", "/companies/", query={"phone": number}))
            key = "company_id"
        if found is None and self._settings.create_contacts:
            found = await self._new_contact(number)
            key = "contact_id"
        if found is None:
            return {}
        await progress.record(**{key: found})
        return {key: found}

    async def _contact(self, number: str) -> int | None:
        how = self._settings.contact_search
        answer = await self._api.call("GET", "/contacts/", query={how: number})
        if how == "phone":
            return _first_id(answer)
        digits = _NON_DIGITS.sub("", number)
        for contact in _objects(answer):
            phones = (contact.get("phone"), contact.get("mobile_phone"))
            if any(isinstance(p, str) and _NON_DIGITS.sub("", p) == digits for p in phones):
                return answered_id(contact.get("id"))
        return None

    async def _new_contact(self, number: str) -> int:
        contact = {
            "first_name": self._settings.new_contact_name,
            "last_name": number,
            "phone": number,
        }
        answer = await self._api.call("POST", "/contacts/", json={"contact": contact})
        created = _first_id(answer)
        if created is None:
            raise self._api.unexpected(f"created a contact but gave no id: {str(answer)[:200]}")
        return created


def _objects(answer: Any) -> list[Mapping[str, Any]]:
    """Okdesk answers a search with one object, a list of them, or an empty one."""
    items = answer if isinstance(answer, list) else [answer]
    return [item for item in items if isinstance(item, Mapping)]


def _first_id(answer: Any) -> int | None:
    for item in _objects(answer):
        found = answered_id(item.get("id"))
        if found is not None:
            return found
    return None
