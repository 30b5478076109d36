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

from urllib.parse import urlsplit

from storage.database import Database, Session
from storage.errors import NotFound, SchemaError, StorageError
from storage.postgres import SCHEMES, PostgresDatabase, is_postgres_url, safe_url
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


def open_database(target: str) -> Database | PostgresDatabase:
    """The database `target` names, not yet opened: a SQLite file path, or a PostgreSQL URL.
    Any other scheme is refused, naming it."""
    if is_postgres_url(target):
        return PostgresDatabase(target)
    scheme = urlsplit(target).scheme
    if "://" in target:
        raise StorageError(
            f"unsupported database {scheme}:// (give a SQLite file path or a "
            f"{SCHEMES[0]}://user@host:port/database URL)"
        )
    return Database(target)
