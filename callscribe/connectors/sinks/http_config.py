"""Settings of the mapped HTTP request sink (``type = "http"``, docs/sinks/http.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from callscribe.config.base import ConfigModel, SecretValue, TimeZone
from callscribe.mapping.body import XML_NAME, Entry, parse_table, table_sources
from callscribe.mapping.fields import Scope
from callscribe.mapping.template import SECRETS, Template

#: Templates of this sink may read the call, its transcript, the delivery and its secrets.
SCOPE = Scope(stored=True, extra=(SECRETS,))
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# The scheme and host are written out: a value from a webhook must never choose where
# callscribe sends the call (and its secrets).
_FIXED_ORIGIN = re.compile(r"^https?://[^/?#{}]+[/?#]", re.IGNORECASE)


def _url(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if not isinstance(value, str):
        raise ValueError(
            "expected a URL such as 'https://api.example.com/calls/{call.external_id}'"
        )
    template = Template.parse(value, SCOPE)
    first = template.pieces[0] if isinstance(template.pieces[0], str) else ""
    fixed = _FIXED_ORIGIN.match(first) or (
        not template.placeholders and re.match(r"^https?://[^/?#{}]+$", first, re.I)
    )
    if not fixed:
        raise ValueError(
            "must start with http:// or https:// and a host written out, followed by / or ? "
            "before any {placeholder}"
        )
    # Placeholders are URL-encoded when rendered; the text around them must be a URL as
    # written (no spaces or control characters), or every delivery would fail on it.
    try:
        httpx.URL("".join(p if isinstance(p, str) else "x" for p in template.pieces))
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    return template


def _table(value: Any) -> tuple[Entry, ...]:
    if isinstance(value, tuple):
        return value
    return parse_table(value, SCOPE)


UrlTemplate = Annotated[
    Template, PlainValidator(_url), PlainSerializer(lambda t: t.source, return_type=str)
]
Table = Annotated[
    tuple[Entry, ...], PlainValidator(_table), PlainSerializer(table_sources, return_type=dict)
]


class HttpSinkConfig(ConfigModel):
    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "POST", description="HTTP method. With GET the body fields are sent as query parameters."
    )
    url: UrlTemplate = Field(
        description="Where the request goes; may hold {placeholders} after the host "
        "(each value URL-encoded), e.g. 'https://api.example.com/calls/{call.external_id}'."
    )
    query: Table = Field(
        (), description="Query parameters: name = template (URL-encoded, added to the URL)."
    )
    headers: Table = Field(
        (),
        description="Request headers: name = template; {secrets.NAME} puts a secret in, e.g. "
        "Authorization = 'Mindbox secretKey=\"{secrets.key}\"'.",
    )
    secrets: dict[str, SecretValue] = Field(
        default_factory=dict,
        description="Secret values the templates use as {secrets.NAME} (credential:NAME, "
        "file:PATH, env:NAME); shown as ******** by config validate.",
    )
    body: Table = Field(
        (),
        description="The body as dotted paths: customer.mobilePhone = '{call.client_number}'. "
        "Values: a template, a number, true/false, or a list. See docs/sinks/http.md.",
    )
    body_format: Literal["json", "form", "xml"] = Field(
        "json",
        description="How the body is written: 'json' (nested objects), 'form' "
        "(application/x-www-form-urlencoded, dotted keys) or 'xml' (nested elements).",
    )
    xml_root: str = Field("request", description="Name of the root element of an XML body.")
    remote_id: str | None = Field(
        None,
        description="Dotted path to the id the API answers with, e.g. 'data.id'; kept as "
        "the delivery's remote id.",
    )
    time_zone: TimeZone = Field(
        "UTC",
        validate_default=True,
        description="Time zone of dates written with the date and iso filters.",
    )
    requests_per_second: float | None = Field(
        None, gt=0, le=1000, description="Send at most this many requests a second; none: no limit."
    )
    idempotency_header: str = Field(
        "Idempotency-Key",
        description="Header carrying the delivery's idempotency key (the same on every "
        "retry); '' sends none. Templates can place it elsewhere as {delivery.key}.",
    )
    timeout_seconds: float = Field(
        30.0, gt=0, le=120, description="Give up on one attempt after this long (retried later)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> HttpSinkConfig:
        problems = [
            f"headers.{entry.path}: not a valid header name"
            for entry in self.headers
            if not _HEADER_NAME.match(entry.path)
        ]
        if self.idempotency_header and not _HEADER_NAME.match(self.idempotency_header):
            problems.append("idempotency_header: not a valid header name")
        for section in ("url", "query", "headers", "body"):
            for template in _templates(getattr(self, section)):
                problems += [
                    f"{section}: {{secrets.{p.path[1]}}} is not in [secrets] "
                    f"(known: {', '.join(self.secrets) or 'none'})"
                    for p in template.placeholders
                    if p.path[0] == SECRETS and p.path[1] not in self.secrets
                ]
        if self.body_format == "xml" and self.method != "GET":
            names = [self.xml_root] + [p for e in self.body for p in e.path.split(".")]
            problems += [
                f"body: {n!r} is not a valid XML element name"
                for n in names
                if not XML_NAME.match(n)
            ]
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


def _templates(value: Template | tuple[Entry, ...]) -> tuple[Template, ...]:
    if isinstance(value, Template):
        return (value,)
    return tuple(t for entry in value for t in entry.templates)
