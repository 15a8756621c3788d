"""Where the queue lives and what this node does with it.

```toml
[store]                      # absent: SQLite in [daemon] state_dir, one node
url = "postgresql://callscribe@db.example.com/callscribe"
password = "credential:pg"   # never in the URL

[node]
roles = ["transcribe"]       # a GPU box; default: all four
```
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from callscribe.config.base import ConfigModel, SecretValue


class Role(enum.StrEnum):
    INTAKE = "intake"  # the HTTP webhooks of webhook sources
    SOURCES = "sources"  # running sources: watched folders, Asterisk AMI
    TRANSCRIBE = "transcribe"  # fetching recordings and transcribing them (the model)
    DELIVER = "deliver"  # posting transcripts to the sinks


class StoreSettings(ConfigModel):
    """The database: SQLite by default; PostgreSQL for several nodes on one queue."""

    url: str | None = Field(
        None,
        description="PostgreSQL to share one queue between several nodes, as "
        "'postgresql://USER@HOST[:PORT]/DATABASE' (no password here: see password). "
        "Unset: a SQLite file in [daemon] state_dir, for one node.",
    )
    password: SecretValue | None = Field(
        None,
        description="The PostgreSQL user's password: credential:NAME, file:PATH or env:NAME. "
        "Unset: libpq's own ways (~/.pgpass, PGPASSWORD, peer authentication).",
    )
    pool_size: int = Field(
        10, ge=2, le=100, description="Connections to PostgreSQL this node keeps open at most."
    )

    @field_validator("url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "expected postgresql://USER@HOST/DATABASE (SQLite needs no url: leave [store] out)"
            )
        if parts.password is not None:
            raise ValueError(
                "put the password in [store] password (credential:NAME, file:PATH or "
                "env:NAME), not in the URL: the URL is shown in logs"
            )
        if not parts.hostname or parts.path in ("", "/"):
            raise ValueError("name the host and the database: postgresql://USER@HOST/DATABASE")
        return value.strip()

    @property
    def postgresql(self) -> bool:
        return self.url is not None


class NodeSettings(ConfigModel):
    """What this node does; with PostgreSQL, nodes with other roles share the work."""

    roles: tuple[Role, ...] = Field(
        tuple(Role),
        min_length=1,
        description="Any of 'intake' (webhooks), 'sources' (running sources such as a "
        "watched folder or Asterisk AMI: one node runs each at a time), 'transcribe' "
        "(fetch and transcribe; only these nodes load the model) and 'deliver' (post to "
        "the sinks). Default: all four.",
    )
