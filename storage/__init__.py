"""Persistence for relaytale; all of the project's SQL lives here.

Two databases behind one store: SQLite (a file, WAL, through aiosqlite — the default, one
process) and PostgreSQL (asyncpg, for several bot processes on one database). `open_database`
takes a file path or a `postgresql://` URL; each applies its numbered migrations
(storage/migrations/sqlite/, storage/migrations/postgres/, kept in step) and keeps one writer at
a time; `SqlStore` implements bot.core.ports.Store on either.

    async with open_database("data/relaytale.db") as db:
        store = SqlStore(db)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from storage.database import Database, Session
    from storage.errors import NotFound, SchemaError, StorageError
    from storage.postgres import PostgresDatabase, is_postgres_url, safe_url
    from storage.store import SqlStore

__all__ = [
    "Database",
    "NotFound",
    "PostgresDatabase",
    "SchemaError",
    "Session",
    "SqlStore",
    "StorageError",
    "is_postgres_url",
    "open_database",
    "safe_url",
]

# Imported on first use, so that `storage.artifacts` (which the engine's processes import)
# loads no database driver and nothing of the bot.
_HOMES = {
    "Database": "storage.database",
    "Session": "storage.database",
    "NotFound": "storage.errors",
    "SchemaError": "storage.errors",
    "StorageError": "storage.errors",
    "PostgresDatabase": "storage.postgres",
    "is_postgres_url": "storage.postgres",
    "safe_url": "storage.postgres",
    "SqlStore": "storage.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'storage' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def open_database(target: str) -> Database | PostgresDatabase:
    """The database `target` names, not yet opened: a SQLite file path, or a PostgreSQL URL.
    Any other scheme is refused, naming it."""
    from storage.database import Database
    from storage.errors import StorageError
    from storage.postgres import SCHEMES, PostgresDatabase, is_postgres_url

    if is_postgres_url(target):
        return PostgresDatabase(target)
    scheme = urlsplit(target).scheme
    if "://" in target:
        raise StorageError(
            f"unsupported database {scheme}:// (give a SQLite file path or a "
            f"{SCHEMES[0]}://user@host:port/database URL)"
        )
    return Database(target)
