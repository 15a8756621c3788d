"""Okdesk: the transcript as a comment on an issue, a missed call as an issue of its own,
as the UIS–Okdesk integration does (docs/sinks/okdesk.md).

The issue is the one the call names in its fields, else a new one for the client found by
phone (a contact, else a company; a contact is created for a new number when configured).
A missed call always makes an issue «Пропущенный звонок <номер>», without a transcript.
``api_token`` goes in the query string of every request, as Okdesk requires; it never
reaches a log line, a reason or the database.  Operators are matched to Okdesk employees
by extension (``employees``): the issue's assignee and the comments' author.
"""

from __future__ import annotations

import functools
import logging
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
    NumberTemplate,
    comment_parts,
    header,
    with_number,
)
from callscribe.connectors.sinks.comment_split import Markup, render_lines
from callscribe.connectors.sinks.exactly_once import Progress, comments_of, post_parts, text_id
from callscribe.connectors.sinks.okdesk_clients import ClientLookup, OkdeskClientSettings
from callscribe.connectors.sinks.platform import PlatformAPI
from callscribe.domain import Call, Transcript
from callscribe.errors import SinkError

log = logging.getLogger(__name__)


class OkdeskSinkConfig(OkdeskClientSettings):
    type: Literal["okdesk"]
    url: AnyHttpUrl = Field(description="Your Okdesk address, https://<account>.okdesk.ru.")
    api_token: SecretValue = Field(
        description="API key (Настройки → API → «Сгенерировать новый ключ»); sent as the "
        "api_token query parameter, never logged."
    )
    issue_field: FieldPath = Field(
        "raw.fields.okdesk_issue_id",
        description=f"The call field naming the issue to comment on: {FIELD_PATH_HELP}.",
    )
    issue_title: NumberTemplate = Field(
        "Звонок {number}", description="Title of a new issue; {number}: the client's."
    )
    missed_title: NumberTemplate = Field(
        "Пропущенный звонок {number}", description="Title of the issue a missed call makes."
    )
    issue_type: str | None = Field(
        None, description="Code of a new issue's type; default: Okdesk's."
    )
    priority: str | None = Field(None, description="Code of a new issue's priority.")
    employees: dict[str, int] = Field(
        default_factory=dict,
        description="Extension (callscribe's operator id) -> Okdesk employee id, as in the "
        "employee card's «Добавочный номер».",
    )
    default_employee: int | None = Field(
        None, description="Employee for calls whose operator is not in employees."
    )
    assign_issues: bool = Field(True, description="Assign a new issue to the call's employee.")
    author_type: str = Field(
        "employee",
        description="author_type of the comments (written by the call's employee); Okdesk's "
        "documentation shows only 'contact', so this is a setting.",
    )
    public_comments: bool = Field(
        False, description="Make the transcript visible to the client (public comment)."
    )
    markup: Markup = Field(
        "html",
        description="How comments are written: 'html' (lines joined by HTML line breaks) or 'text' "
        "(plain lines); Okdesk does not document which it renders.",
    )
    check_comments: bool = Field(
        True,
        description="After a lost answer, list the issue's comments (GET …/comments, seen in "
        "working clients, not in Okdesk's documentation) before posting again; false: post "
        "again, which may leave a duplicate.",
    )


class OkdeskSink:
    def __init__(self, name: str, config: OkdeskSinkConfig, labels: RenderSettings) -> None:
        self.name = name
        self.config = config
        self._labels = labels
        token = config.api_token.reveal()
        self._api = PlatformAPI(
            name,
            "Okdesk",
            str(config.url).rstrip("/") + "/api/v1",
            credential_setting="api_token",
            timeout_seconds=config.timeout_seconds,
            query={"api_token": token},
            secrets=(token,),
        )
        self._clients = ClientLookup(self._api, config)

    async def deliver(
        self, call: Call, transcript: Transcript | None, context: DeliveryContext
    ) -> str | None:
        progress = Progress(context)
        issue = progress.get("issue_id")
        if issue is None and transcript is not None:
            issue = await self._named_issue(call, progress)
        if issue is None:
            issue = await self._new_issue(call, transcript, context, progress)
        if transcript is None:
            return str(issue)  # a missed call is the issue itself
        parts = comment_parts(
            self.config,
            call,
            transcript,
            self._labels,
            context,
            markup=self.config.markup,
            with_header=not progress.get("issue_created"),  # a new issue describes the call
        )
        await post_parts(
            self.name,
            parts,
            progress,
            key=context.key,
            post=functools.partial(self._comment, issue, call),
            posted_comments=functools.partial(self._comments, issue)
            if self.config.check_comments
            else None,
        )
        return str(issue)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _named_issue(self, call: Call, progress: Progress) -> int | None:
        issue = named_id(call.event, self.config.issue_field)
        if issue is not None:
            await progress.record(issue_id=issue)
        return issue

    async def _new_issue(
        self,
        call: Call,
        transcript: Transcript | None,
        context: DeliveryContext,
        progress: Progress,
    ) -> int:
        if progress.get("posting") == "issue":
            # Okdesk documents no search that could find it: say so, and carry on.
            log.warning(
                "sink %s: call %d: the last attempt to create its issue did not finish; if "
                "Okdesk created it anyway, the call now has two issues",
                self.name,
                call.id,
            )
        event = call.event
        template = self.config.issue_title if transcript is not None else self.config.missed_title
        description = header(call, transcript, context.recording_url, self.config.zone())
        issue: dict[str, Any] = {
            "title": with_number(template, event.client_number)[:255],
            "description": render_lines(description, self.config.markup),
            **await self._clients.find(event, progress),
        }
        employee = self._employee(call)
        if employee is not None and self.config.assign_issues:
            issue["assignee_id"] = employee
        if self.config.issue_type:
            issue["type"] = self.config.issue_type
        if self.config.priority:
            issue["priority"] = self.config.priority
        await progress.record(posting="issue")
        answer = await self._api.call("POST", "/issues/", json={"issue": issue})
        number = answered_id(answer.get("id")) if isinstance(answer, dict) else None
        if number is None:
            raise self._api.unexpected(f"created an issue but gave no id: {str(answer)[:200]}")
        await progress.record(issue_id=number, issue_created=True, posting=None)
        return number

    async def _comment(self, issue: int, call: Call, content: str) -> str | None:
        comment: dict[str, Any] = {"content": content, "public": self.config.public_comments}
        employee = self._employee(call)
        if employee is not None:
            comment |= {"author_id": employee, "author_type": self.config.author_type}
        answer = await self._api.call(
            "POST", f"/issues/{issue}/comments", json={"comment": comment}
        )
        return text_id(answer.get("id")) if isinstance(answer, dict) else None

    async def _comments(self, issue: int) -> list[tuple[str | None, str]]:
        try:
            listed = await self._api.call("GET", f"/issues/{issue}/comments")
        except SinkError as exc:
            if exc.retryable:
                raise
            raise SinkError(
                f"{exc}; callscribe lists an issue's comments to check for one the last "
                "attempt may have posted without hearing back. If this Okdesk cannot list "
                f"them, set check_comments = false in [sinks.{self.name}] (a comment may "
                "then appear twice after a crash)",
                retryable=False,
            ) from None
        return comments_of(listed, "content")

    def _employee(self, call: Call) -> int | None:
        operator = call.event.operator_id
        return self.config.employees.get(operator or "", self.config.default_employee)
