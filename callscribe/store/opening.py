"""The one place that turns ``[store]`` into a store: SQLite in ``[daemon] state_dir``
unless ``[store] url`` names a PostgreSQL database."""

from __future__ import annotations

from callscribe.config.settings import Settings
from callscribe.errors import ConfigError
from callscribe.store.async_api import AsyncStoreApi
from callscribe.store.async_store import AsyncStore
from callscribe.store.base import Limits, Store
from callscribe.store.blocking import BlockingStore
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore

CLI_POOL = 2  # a command runs one query at a time


def pg_target(settings: Settings) -> PgTarget | None:
    store = settings.store
    if store.url is None:
        return None
    return PgTarget(store.url, None if store.password is None else store.password.reveal())


def limits(settings: Settings) -> Limits:
    return Limits(max_stalls=settings.daemon.max_stalls)


async def open_async_store(settings: Settings) -> AsyncStoreApi:
    """The daemon's store (created and migrated if new)."""
    target = pg_target(settings)
    if target is not None:
        return await PostgresStore.open(
            target, limits=limits(settings), pool_size=settings.store.pool_size
        )
    path = settings.daemon.database_path
    return await AsyncStore.open(lambda: SqliteStore(path, limits=limits(settings)))


def open_store(settings: Settings) -> Store:
    """The store for a command; a SQLite file must exist already (the service made it)."""
    target = pg_target(settings)
    if target is not None:
        return BlockingStore(lambda: PostgresStore.open(target, pool_size=CLI_POOL))
    path = settings.daemon.database_path
    if not path.exists():
        raise ConfigError(
            f"no database at {path}: the service has not run with this configuration yet, "
            "or [daemon] state_dir / database point elsewhere"
        )
    return SqliteStore(path)


def store_name(settings: Settings) -> str:
    """The database, for messages: the SQLite path or host:port/database."""
    target = pg_target(settings)
    return str(settings.daemon.database_path) if target is None else target.name
