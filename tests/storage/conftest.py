"""Fixtures of the storage tests: a real SQLite file per test, and the store on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.ports import Store
from storage import Database, SqliteStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "relay.db") as database:
        yield database


@pytest.fixture
def store(db: Database) -> Store:
    return SqliteStore(db)  # typed as the Protocol: mypy checks that SqliteStore fits it
