"""Tables of dotted paths → values, as a configuration writes a request's body, query or
headers (``customer.mobilePhone = "{call.client_number}"``), and the bytes they become:
JSON (nested objects), a form (``customer.mobilePhone=…``) or XML (nested elements).

A value is a template (``template.py``), a TOML number or boolean (sent as that type),
or a list of those.  A value that renders to nothing (a field the call lacks) leaves its
key out; ``|default:…`` sends something instead.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from callscribe.errors import SinkError
from callscribe.mapping.fields import Scope, Subject
from callscribe.mapping.template import Env, Template, as_text

Constant = str | int | float | bool
Spec = Template | Constant | tuple[Template | Constant, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # dotted: customer.mobilePhone
    spec: Spec

    @property
    def templates(self) -> tuple[Template, ...]:
        specs = self.spec if isinstance(self.spec, tuple) else (self.spec,)
        return tuple(s for s in specs if isinstance(s, Template))


def parse_table(data: Any, scope: Scope) -> tuple[Entry, ...]:
    """Nested TOML tables flattened to dotted paths, each value parsed; ValueError naming
    every bad key (``customer.mobilePhone: unknown field 'call.phone'``)."""
    if not isinstance(data, Mapping):
        raise ValueError("expected a table of key = value")
    entries: list[Entry] = []
    problems: list[str] = []
    for path, value in _flatten(data, ""):
        try:
            entries.append(Entry(path, _spec(value, scope)))
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    paths = {entry.path for entry in entries}
    problems += [
        f"{path}: is a value and also has keys below it ({path}.…)"
        for path in sorted(paths)
        if any(other.startswith(path + ".") for other in paths)
    ]
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(entries)


def _flatten(data: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def _spec(value: Any, scope: Scope) -> Spec:
    if isinstance(value, str):
        return Template.parse(value, scope)
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list) and all(not isinstance(v, list | Mapping) for v in value):
        return tuple(_spec(v, scope) for v in value)  # type: ignore[misc]
    raise ValueError("expected text (a template), a number, true/false, or a list of those")


def table_sources(entries: Sequence[Entry]) -> dict[str, Any]:
    """The table as it was written (for ``config show``)."""
    return {entry.path: _source(entry.spec) for entry in entries}


def _source(spec: Spec) -> Any:
    if isinstance(spec, tuple):
        return [_source(s) for s in spec]
    return spec.source if isinstance(spec, Template) else spec


def render(entries: Sequence[Entry], subject: Subject, env: Env) -> list[tuple[str, Any]]:
    """(path, value) pairs in the configured order; keys whose value is nothing left out."""
    pairs = []
    for entry in entries:
        try:
            value = _render(entry.spec, subject, env)
        except SinkError as exc:
            raise SinkError(f"{entry.path}: {exc}", retryable=False) from None
        if value is not None:
            pairs.append((entry.path, value))
    return pairs


def _render(spec: Spec, subject: Subject, env: Env) -> Any:
    if isinstance(spec, tuple):
        return [v for v in (_render(s, subject, env) for s in spec) if v is not None]
    return spec.render(subject, env) if isinstance(spec, Template) else spec


def nest(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``customer.mobilePhone`` → ``{"customer": {"mobilePhone": …}}``."""
    document: dict[str, Any] = {}
    for path, value in pairs:
        *parents, last = path.split(".")
        node = document
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return document


def to_json(pairs: Sequence[tuple[str, Any]]) -> bytes:
    text = json.dumps(nest(pairs), ensure_ascii=False, separators=(",", ":"), default=_default)
    return text.encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def flat_pairs(pairs: Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Pairs for a query string or a form: lists repeat their key, objects are JSON."""
    flat: list[tuple[str, str]] = []
    for path, value in pairs:
        for item in value if isinstance(value, list) else [value]:
            flat.append((path, _scalar_text(item)))
    return flat


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return as_text(value)


def to_form(pairs: Sequence[tuple[str, Any]]) -> bytes:
    return urllib.parse.urlencode(flat_pairs(pairs)).encode("ascii")


def to_query(pairs: Sequence[tuple[str, Any]]) -> str:
    return urllib.parse.urlencode(flat_pairs(pairs), quote_via=urllib.parse.quote)


XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def to_xml(pairs: Sequence[tuple[str, Any]], root: str) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, nest(pairs))
    text = ElementTree.tostring(element, encoding="unicode", short_empty_elements=False)
    return ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode("utf-8")


# What XML 1.0 cannot hold even escaped (control characters, lone surrogates, U+FFFE/F):
# a call's text keeps its place with U+FFFD instead of making the document ill-formed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _fill(parent: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            # Names from the configuration were checked when it loaded; these come from
            # an object in the call's own fields (a vendor's keys).
            if not XML_NAME.match(name):
                raise SinkError(
                    f"{str(name)[:40]!r} (a key of the call's data) cannot be an XML element name",
                    retryable=False,
                )
            for item in child if isinstance(child, list) else [child]:
                _fill(ElementTree.SubElement(parent, name), item)
    else:
        parent.text = _NOT_XML.sub("\ufffd", _scalar_text(value))
