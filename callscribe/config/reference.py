"""The configuration reference, generated from the settings models themselves, so the
documentation cannot drift from what the code accepts (``docs/configuration.md`` is
this output; a test keeps them equal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from callscribe.config.base import Secret
from callscribe.config.settings import Settings
from callscribe.connectors.registry import SINKS, SOURCES

HEADER = """# Configuration reference

callscribe reads one TOML file (`--config`, default `/etc/callscribe/callscribe.toml`).
Unknown keys are errors, so a typo is reported instead of silently ignored. Check a file
with `callscribe config validate --config FILE`: every problem at once, each with its key,
including what would only fail once the service runs (no source, sink or route, a folder
that is missing or unreadable, an `env:` secret whose variable is unset; with `--online`
a helpdesk host name that does not resolve). `callscribe config show` prints it with every
default filled in and secrets hidden (TOML; `--format json`).

- Relative paths are relative to the configuration file's folder.
- Any key can be overridden from the environment: `CALLSCRIBE_<SECTION>__<KEY>`, e.g.
  `CALLSCRIBE_DAEMON__LISTEN=0.0.0.0:8680` or `CALLSCRIBE_SINKS__ARCHIVE__PATH=/srv/a.jsonl`.
- Secrets (tokens, keys) take `credential:NAME` (systemd `LoadCredential=`, the safe way),
  `file:/path`, `env:NAME`, or the value itself.

This page is generated from the code (`callscribe config reference`).
"""


def markdown() -> str:
    parts = [HEADER]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            parts.append(_section(f"[{name}]", annotation))
            parts += [_section(title, model) for title, model in _tables_in(name, annotation)]
    parts.append(_section("[[routes]]", _route_model()))
    for kind, table in (("sources", SOURCES), ("sinks", SINKS)):
        for type_name, entry in table.items():
            model = entry.config
            title = f'[{kind}.NAME] type = "{type_name}"'
            parts.append(_section(title, model, summary=entry.summary, skip={"type"}))
    return "\n".join(parts)


def _table(field: FieldInfo) -> tuple[str, type[BaseModel]] | None:
    """A field that is a table of its own: (how its name is written, its model)."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "[{}]", annotation
    origin, args = get_origin(annotation), get_args(annotation)
    inner = (args[0] if origin is tuple else args[-1]) if args else None
    if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
        return None
    if origin is tuple:
        return "[[{}]]", inner
    if origin is dict:
        return "[{}.NAME]", inner
    return None


def _tables_in(prefix: str, model: type[BaseModel]) -> Iterator[tuple[str, type[BaseModel]]]:
    """The tables nested in a section (``[redaction.kinds]``, ``[[redaction.patterns]]``)."""
    for name, field in model.model_fields.items():
        table = _table(field)
        if table is not None:
            form, inner = table
            yield form.format(f"{prefix}.{name}"), inner
            yield from _tables_in(f"{prefix}.{name}", inner)


def _route_model() -> type[BaseModel]:
    from callscribe.config.routes import Route  # noqa: PLC0415

    return Route


def _section(
    title: str,
    model: type[BaseModel],
    *,
    summary: str = "",
    skip: frozenset[str] | set[str] = frozenset(),
) -> str:
    lines = [f"## `{title}`", ""]
    doc = summary or (model.__doc__ or "").strip().split("\n\n")[0]
    if doc:
        lines += [" ".join(doc.split()), ""]
    lines += ["| key | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name not in skip:
            lines.append(f"| `{name}` | {_default(field)} | {_meaning(field)} |")
    return "\n".join(lines) + "\n"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    if _table(field) is not None:
        return "(table below)"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    return f"`{_toml(value)}`".replace("|", "\\|")


def _toml(value: Any) -> str:
    if isinstance(value, Enum):
        return json.dumps(value.value, ensure_ascii=False)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, Secret):
        return "(secret)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        items = list(_items(value))
        return "[" + ", ".join(items) + "]" if len(items) <= 12 else f"[{len(items)} entries]"
    return json.dumps(value, ensure_ascii=False)


def _items(values: Any) -> Iterator[str]:
    for value in values:
        yield _toml(value)


def _meaning(field: FieldInfo) -> str:
    text = " ".join((field.description or "").split())
    return text.replace("|", "\\|") or " "


__all__ = ["markdown"]
