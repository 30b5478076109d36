"""Persistence for relaytale: SQLite (WAL) through aiosqlite; all of the project's SQL lives here.

`Database` opens the file, applies the numbered migrations in storage/migrations/sqlite/ and is
the one writer; `SqliteStore` implements bot.core.ports.Store on it.

    async with Database("relaytale.db") as db:
        store = SqliteStore(db)
"""

from storage.database import Database, Session
from storage.errors import NotFound, SchemaError, StorageError
from storage.sqlite_store import SqliteStore

__all__ = ["Database", "NotFound", "SchemaError", "Session", "SqliteStore", "StorageError"]
