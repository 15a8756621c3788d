"""What a valid configuration can still get wrong once it runs, checked by ``callscribe
config validate``: nothing to take calls from or deliver them to, a folder that is not
there or cannot be read, and (``--online``) a helpdesk whose host name does not resolve.

The service itself does not refuse to start over these: a folder may be mounted later, a
DNS outage passes.  Checks run as the user who runs the command, who may not be the
service's; messages say so where it matters.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Mapping
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from pydantic import AnyUrl, BaseModel

from callscribe.config.problems import HostChecked, Problem
from callscribe.config.settings import Settings
from callscribe.connectors.fetch import Resolver, SystemResolver
from callscribe.mapping.template import Template

RESOLVE_SECONDS = 5.0


def missing_parts(data: Mapping[str, Any]) -> list[Problem]:
    """No source, no sink or no route: the service would run and do nothing.  Read from
    the file's tables, so that a source with a wrong value still counts as one."""
    wanted = (
        ("sources", "no [sources.NAME] table: nothing brings calls in"),
        ("sinks", "no [sinks.NAME] table: transcripts go nowhere"),
        ("routes", "no [[routes]] entry: no call is delivered to any sink"),
    )
    return [Problem(key, message) for key, message in wanted if not data.get(key)]


def folders(settings: Settings) -> list[Problem]:
    """Every source's and sink's own check of this machine (their folders)."""
    problems = []
    for kind, configs in (("sources", settings.sources), ("sinks", settings.sinks)):
        for name, config in configs.items():
            if isinstance(config, HostChecked):
                problems += [p.under(f"{kind}.{name}") for p in config.problems_on_this_host()]
    return problems


async def unresolvable_hosts(
    settings: Settings, resolver: Resolver | None = None, timeout: float = RESOLVE_SECONDS
) -> list[Problem]:
    """Every sink URL whose host name does not resolve, asked all at once."""
    resolver = resolver or SystemResolver()
    found = sink_hosts(settings)
    answers = await asyncio.gather(
        *(_resolution_problem(resolver, host, port, timeout) for _, host, port in found)
    )
    return [Problem(key, why) for (key, _, _), why in zip(found, answers, strict=True) if why]


def sink_hosts(settings: Settings) -> list[tuple[str, str, int]]:
    """(key, host name, port) of every sink URL with a host name to look up."""
    return [
        (f"sinks.{name}.{key}", host, port)
        for name, config in settings.sinks.items()
        for key, url in _urls(config)
        for host, port in [_host(url)]
        if host is not None
    ]


async def _resolution_problem(
    resolver: Resolver, host: str, port: int, timeout: float
) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            await resolver.resolve(host, port)
    except TimeoutError:
        return f"no answer from DNS for host {host!r} within {timeout:g} s"
    except (socket.gaierror, OSError) as exc:
        return f"host {host!r} cannot be resolved ({exc.strerror or exc})"
    return None


def _urls(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, URL) of every http(s) URL in a model's fields, nested models included."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _urls(value, f"{key}.")
            continue
        text = value.source if isinstance(value, Template) else value
        text = str(text) if isinstance(text, AnyUrl) else text
        if isinstance(text, str) and text.startswith(("https://", "http://")):
            yield key, text


def _host(url: str) -> tuple[str | None, int]:
    """The host name to resolve, or None for an address.  (A mapped URL's host is
    written out: only its path and query are filled in per call.)"""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None, 0
    try:
        ip_address(host)
    except ValueError:
        return host, parts.port or (443 if parts.scheme == "https" else 80)
    return None, 0
