"""Validate a configuration file's data into :class:`Settings`, collecting every problem.

Pydantic reports every wrong value of the file at once, but then gives no settings at
all, so nothing further could be checked: a folder that does not exist would only show
once the typo three tables away was fixed.  When the whole file does not validate, each
section, each source and each sink is validated on its own, and what did validate is
kept (``Validated.settings``, built without validation) for the checks that follow —
never to run on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from callscribe.config.problems import Problem, RouteNames, from_validation, references
from callscribe.config.settings import Settings
from callscribe.connectors.registry import SINKS, SOURCES, SinkConfig, SourceConfig

_CONNECTOR_TYPES = frozenset(SOURCES) | frozenset(SINKS)
_TABLES_OF_CONNECTORS: Mapping[str, TypeAdapter[Any]] = {
    "sources": TypeAdapter(SourceConfig),
    "sinks": TypeAdapter(SinkConfig),
}


@dataclass(frozen=True, slots=True)
class Validated:
    """The settings, and what is wrong with the file.  With problems, ``settings`` holds
    only the parts that validated (defaults elsewhere), for further checks."""

    settings: Settings
    problems: tuple[Problem, ...]


def validate(data: Mapping[str, Any], context: Mapping[str, Any]) -> Validated:
    try:
        return Validated(Settings.model_validate(data, context=context), ())
    except ValidationError as exc:
        problems = from_validation(exc, _CONNECTOR_TYPES)
    problems += references(*_names(data))
    return Validated(_what_validates(data, context), tuple(problems))


def _what_validates(data: Mapping[str, Any], context: Mapping[str, Any]) -> Settings:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        if name not in data or field.annotation is None:
            continue
        if name in _TABLES_OF_CONNECTORS and isinstance(data[name], dict):
            adapter = _TABLES_OF_CONNECTORS[name]
            tables = {key: _valid(adapter, table, context) for key, table in data[name].items()}
            values[name] = {key: value for key, value in tables.items() if value is not None}
        elif (value := _valid(TypeAdapter(field.annotation), data[name], context)) is not None:
            values[name] = value
    return Settings.model_construct(**values)


def _valid(adapter: TypeAdapter[Any], value: Any, context: Mapping[str, Any]) -> Any:
    try:
        return adapter.validate_python(value, context=dict(context))
    except ValidationError:
        return None


def _names(
    data: Mapping[str, Any],
) -> tuple[list[str], list[str], list[RouteNames], list[str]]:
    """The names the file gives and refers to, whether or not their tables validate
    (a source with a wrong value is still there: a route naming it is not wrong)."""

    def keys(table: Any) -> list[str]:
        return [str(key) for key in table] if isinstance(table, dict) else []

    def strings(value: Any) -> list[str]:
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    routes = data.get("routes")
    redaction = data.get("redaction")
    return (
        keys(data.get("sources")),
        keys(data.get("sinks")),
        [  # one per route, so that each keeps its index
            RouteNames(strings(route.get("sources")), strings(route.get("sinks")))
            if isinstance(route, dict)
            else RouteNames((), ())
            for route in (routes if isinstance(routes, list) else [])
        ],
        keys(redaction.get("sinks")) if isinstance(redaction, dict) else [],
    )
