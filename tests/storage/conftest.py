"""Fixtures of the storage tests: the store on a real SQLite file and on a real PostgreSQL
database (every test that takes `store` runs on both), and the SQLite database itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.ports import Store
from storage import Database, SqlStore
from storage.postgres import PostgresDatabase
from tests.postgres_server import new_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "relay.db") as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store under test, typed as the Protocol: mypy checks that SqlStore fits it."""
    if request.param == "sqlite":
        async with Database(tmp_path / "relay.db") as database:
            yield SqlStore(database)
        return
    server = request.getfixturevalue("postgres_server")
    async with new_database(server) as url, PostgresDatabase(url) as database:
        yield SqlStore(database)


@pytest.fixture
def sqlite_store(db: Database) -> Store:
    """The store on `db`, for what only SQLite has (its file, its backups)."""
    return SqlStore(db)
