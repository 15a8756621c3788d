"""Usedesk: the transcript as a private comment in the client's ticket (docs/sinks/usedesk.md).

The ticket is the one the call names in its fields, else the client's most recent open
ticket (client found by phone, full match), else a new one carrying the first comment.
Every request is a POST with ``api_token`` in the JSON body (Usedesk's API convention).
Comments are HTML ("Supports HTML markup"), each under ``max_comment_bytes`` (the API takes
about 64 KB).  Exactly once: remote ids are saved as they come; a part whose answer was
lost is looked for in the ticket (``POST /ticket`` lists its comments) before it is posted
again (``exactly_once.py``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field

from callscribe.config import RenderSettings
from callscribe.config.base import SecretValue
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.call_values import (
    FIELD_PATH_HELP,
    FieldPath,
    answered_id,
    named_id,
)
from callscribe.connectors.sinks.comment import (
    CommentSettings,
    NumberTemplate,
    comment_parts,
    with_number,
)
from callscribe.connectors.sinks.exactly_once import (
    Progress,
    comments_of,
    find_part,
    post_parts,
    text_id,
)
from callscribe.connectors.sinks.platform import PlatformAPI
from callscribe.domain import Call, Transcript
from callscribe.errors import SinkError

log = logging.getLogger(__name__)

#: Usedesk's statuses that count as open: 1 open, 5 on hold, 6 pending, 8 new.
OPEN_STATUSES = (1, 5, 6, 8)


class UsedeskSinkConfig(CommentSettings):
    type: Literal["usedesk"]
    url: AnyHttpUrl = Field(
        "https://api.usedesk.ru",
        validate_default=True,
        description="API address: https://api.usedesk.ru (RU), "
        "https://secure.usedesk.com/uapi (COM), or your server's.",
    )
    api_token: SecretValue = Field(
        description="The API channel's token (Каналы → API → «Настроить API»)."
    )
    ticket_field: FieldPath = Field(
        "raw.fields.usedesk_ticket_id",
        description=f"The call field naming the ticket to comment on: {FIELD_PATH_HELP}.",
    )
    find_open_ticket: bool = Field(
        True,
        description="Without a ticket in the call's fields, comment on the client's most "
        "recent open ticket (client found by phone); false: always a new ticket.",
    )
    open_statuses: tuple[int, ...] = Field(
        OPEN_STATUSES,
        min_length=1,
        description="Ticket statuses that count as open (1 open, 5 on hold, 6 pending, 8 new).",
    )
    tickets_checked: int = Field(
        5, ge=1, le=50, description="How many of the client's latest tickets are looked at."
    )
    subject: NumberTemplate = Field(
        "Звонок {number}", description="Subject of a new ticket; {number}: the client's."
    )
    missed_subject: NumberTemplate = Field(
        "Пропущенный звонок {number}", description="Subject of a new ticket for a missed call."
    )
    ticket_type: Literal["question", "task", "problem", "incident"] = Field(
        "question", description="Type of a new ticket."
    )
    priority: Literal["low", "medium", "urgent", "extreme"] = Field(
        "medium", description="Priority of a new ticket."
    )
    tags: tuple[str, ...] = Field((), description="Tags of a new ticket.")
    agents: dict[str, int] = Field(
        default_factory=dict,
        description="callscribe's operator id (extension) -> Usedesk agent id: a new ticket "
        "is assigned to the call's operator.",
    )
    assignee_id: int | None = Field(
        None, description="Agent a new ticket is assigned to when the operator is not in agents."
    )
    comment_user_id: int | None = Field(
        None,
        description="Agent the comments are written as; default: Usedesk picks the "
        "company's first user.",
    )


class UsedeskSink:
    def __init__(self, name: str, config: UsedeskSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.config = config
        self._labels = labels
        self._token = config.api_token.reveal()
        self._api = PlatformAPI(
            name,
            "Usedesk",
            str(config.url),
            credential_setting="api_token",
            timeout_seconds=config.timeout_seconds,
            secrets=(self._token,),
        )

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        parts = comment_parts(
            self.config,
            call,
            transcript,
            self._labels,
            context,
            markup="html",
        )
        progress = Progress(context)
        ticket = progress.get("ticket_id")
        if ticket is None and progress.get("posting") == "ticket":
            # Before anything else: once created, that ticket is also the client's latest
            # open one, and commenting on it as such would post part 1 a second time.
            ticket = await self._ticket_with_part_1(call, context.key, progress)
        if ticket is None:
            ticket = await self._existing_ticket(call, progress)
        if ticket is None:
            ticket = await self._new_ticket(call, transcript, parts[0], context.key, progress)
        await post_parts(
            self.name,
            parts,
            progress,
            key=context.key,
            post=functools.partial(self._comment, ticket),
            posted_comments=functools.partial(self._comments, ticket),
        )
        return str(ticket)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _existing_ticket(self, call: Call, progress: Progress) -> int | None:
        """The ticket the call names, else the client's latest open one; saved.  The
        client found by phone is saved too, for a new ticket."""
        named = named_id(call.event, self.config.ticket_field)
        if named is not None:
            await progress.record(ticket_id=named)
            return named
        client = await self._client(call, progress)
        if client is None or not self.config.find_open_ticket:
            return None
        open_statuses = {str(status) for status in self.config.open_statuses}
        for ticket in _latest(client.get("tickets"), self.config.tickets_checked):
            about = (await self._ticket(ticket)).get("ticket")
            status = about.get("status_id") if isinstance(about, Mapping) else None
            if text_id(status) in open_statuses:
                await progress.record(ticket_id=ticket)
                return ticket
        return None

    async def _new_ticket(
        self,
        call: Call,
        transcript: Transcript | None,
        first_part: str,
        key: str,
        progress: Progress,
    ) -> int:
        """A ticket whose first message is the first part of the comment (so that part is
        posted)."""
        if progress.get("posting") == "ticket" and self.config.client_phone(call.event) is None:
            log.warning(
                "sink %s: call %d: the last attempt to create its ticket did not finish "
                "and a call without a number cannot be looked for; if Usedesk created it "
                "anyway, the call now has two tickets",
                self.name,
                call.id,
            )
        event = call.event
        number = self.config.client_phone(event)
        template = self.config.subject if transcript is not None else self.config.missed_subject
        body: dict[str, Any] = {
            "subject": with_number(template, event.client_number)[:255],
            "message": first_part,
            "private_comment": True,
            "type": self.config.ticket_type,
            "priority": self.config.priority,
            "additional_id": key,
        }
        if self.config.tags:
            body["tag"] = ",".join(self.config.tags)
        assignee = self.config.agents.get(event.operator_id or "", self.config.assignee_id)
        if assignee is not None:
            body["assignee_id"] = assignee
        client = progress.get("client_id")
        if client is not None:
            body["client_id"] = client
        elif number is not None:
            body |= {"client_id": "new_client", "client_phone": number, "client_name": number}
        await progress.record(posting="ticket")
        answer = await self._post_object("/create/ticket", body, "the new ticket")
        ticket = answered_id(answer.get("ticket_id") or answer.get("id"))
        if ticket is None:
            raise self._api.unexpected(f"created a ticket but gave no ticket_id: {answer}")
        await progress.record(ticket_id=ticket, comments={"1": ""}, posting=None)
        return ticket

    async def _ticket_with_part_1(self, call: Call, key: str, progress: Progress) -> int | None:
        client = await self._client(call, progress)
        for ticket in _latest(client.get("tickets") if client else None, 3):
            comments = comments_of((await self._ticket(ticket)).get("comments"), "message")
            found = find_part(comments, key, 1)
            if found is not None:
                await progress.record(ticket_id=ticket, comments={"1": found}, posting=None)
                return ticket
        return None

    async def _client(self, call: Call, progress: Progress) -> Mapping[str, Any] | None:
        number = self.config.client_phone(call.event)
        if number is None:
            return None
        found = await self._post(
            "/clients", {"query": number, "search_type": "full_match"}, "the client search"
        )
        clients = [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []
        if not clients:
            return None
        client = clients[0]
        await progress.record(client_id=answered_id(client.get("id")))
        return client

    async def _ticket(self, ticket: int) -> Mapping[str, Any]:
        return await self._post_object("/ticket", {"ticket_id": ticket}, f"ticket {ticket}")

    async def _comments(self, ticket: int) -> list[tuple[str | None, str]]:
        return comments_of((await self._ticket(ticket)).get("comments"), "message")

    async def _comment(self, ticket: int, message: str) -> str | None:
        body: dict[str, Any] = {"ticket_id": ticket, "message": message, "type": "private"}
        if self.config.comment_user_id is not None:
            body |= {"from": "user", "user_id": self.config.comment_user_id}
        answer = await self._post_object("/create/comment", body, f"the comment on ticket {ticket}")
        return text_id(answer.get("comment_id") or answer.get("id"))

    async def _post(self, path: str, body: dict[str, Any], what: str) -> Any:
        answer = await self._api.call("POST", path, json={"api_token": self._token, **body})
        if isinstance(answer, Mapping) and answer.get("error"):
            # Usedesk may answer 200 with {"error": ...}: a refusal all the same.
            raise SinkError(
                f"Usedesk refused {what}: {str(answer['error'])[:300]}",
                retryable=False,
            )
        if answer is None:
            raise self._api.unexpected(f"answered {path} with an empty body")
        return answer

    async def _post_object(self, path: str, body: dict[str, Any], what: str) -> Mapping[str, Any]:
        answer = await self._post(path, body, what)
        if not isinstance(answer, Mapping):
            raise self._api.unexpected(f"answered {path} with {str(answer)[:200]}")
        return answer


def _latest(tickets: Any, count: int) -> list[int]:
    """The ``count`` most recent of a client's ticket ids (ids grow with time)."""
    ids = {
        number
        for item in (tickets if isinstance(tickets, list) else [])
        if (number := answered_id(item.get("id") if isinstance(item, Mapping) else item))
    }
    return sorted(ids, reverse=True)[:count]
