"""PostgreSQL (storage/postgres.py) beyond the store contract that test_stories, test_rounds and
the others run on both databases: the schema kept in step with SQLite's, the placeholders, a
server that cannot be reached, processes that start together, notices between processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.ports import StoreUnavailable
from bot.core.records import ChatSettings
from storage import Database, PostgresDatabase, SqlStore, StorageError, open_database
from storage.postgres import dollar_params, safe_url
from tests.postgres_server import PostgresServer, new_database
from tests.storage.helpers import T0, stored_votes, voting_round

SQL_SQLITE_TABLES = """
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
"""
SQL_PG_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'public' AND table_name <> 'schema_version'
ORDER BY table_name, ordinal_position
"""


async def test_both_schemas_have_the_same_tables_and_columns(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The two lists of migrations are kept in step: same version, tables and columns."""
    sqlite: dict[str, list[str]] = {}
    async with Database(tmp_path / "relay.db") as lite:
        for (table,) in await lite.fetch_all(SQL_SQLITE_TABLES):
            columns = await lite.fetch_all(f"PRAGMA table_info({table})")
            sqlite[table] = [c[1] for c in columns]
        lite_version = await lite.schema_version()
    postgres: dict[str, list[str]] = {}
    async with new_database(postgres_server) as url, PostgresDatabase(url) as pg:
        for table, column in await pg.fetch_all(SQL_PG_COLUMNS):
            postgres.setdefault(table, []).append(column)
        assert await pg.schema_version() == lite_version == pg.known_version
    assert postgres == sqlite


def test_placeholders_become_numbered_ones() -> None:
    assert (
        dollar_params("SELECT ? WHERE a = ? AND b = '?'") == "SELECT $1 WHERE a = $2 AND b = '?'"
    )
    assert dollar_params("WHERE ?2 IS NULL OR id = ?1") == "WHERE $2 IS NULL OR id = $1"


async def test_an_unreachable_server_is_named_without_its_password() -> None:
    """The error names the URL, the password hidden; nothing else is said of it."""
    url = "postgresql://relay:s3cret-pw@/relaytale?host=/nonexistent-socket-dir&port=1"
    with pytest.raises(StorageError) as caught:
        await PostgresDatabase(url).open()
    assert "cannot reach PostgreSQL at postgresql://relay:***@/relaytale" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    assert safe_url("postgresql://relay@db:5432/x") == "postgresql://relay@db:5432/x"


def test_a_database_is_a_file_or_a_postgresql_url() -> None:
    """Any other scheme is refused, naming it."""
    assert isinstance(open_database("data/relay.db"), Database)
    assert isinstance(open_database("postgresql://relay@db/relaytale"), PostgresDatabase)
    with pytest.raises(StorageError, match="unsupported database mysql://"):
        open_database("mysql://relay@db/relaytale")


async def test_processes_starting_together_apply_each_migration_once(
    postgres_server: PostgresServer,
) -> None:
    """Three processes opening a fresh database at once: one applies, the others find it done."""
    async with new_database(postgres_server) as url:
        databases = [PostgresDatabase(url) for _ in range(3)]
        await asyncio.gather(*(db.open() for db in databases))
        try:
            versions = await databases[0].fetch_all("SELECT version FROM schema_version")
            assert sorted(v[0] for v in versions) == list(range(1, databases[0].known_version + 1))
        finally:
            await asyncio.gather(*(db.close() for db in databases))


async def test_the_pool_survives_a_server_restart(postgres_server: PostgresServer) -> None:
    """After a restart a statement may fail once per pooled connection, as StoreUnavailable
    (the member is asked to try again); then the pool has reconnected, and everything written
    before the restart is there."""
    async with new_database(postgres_server) as url, PostgresDatabase(url, max_size=3) as pg:
        store = SqlStore(pg)
        rnd = await voting_round(store)
        await store.cast_vote(rnd.id, "m1", "Mia", 2, T0)
        postgres_server.restart()
        failures = 0
        for _ in range(10):
            try:
                await store.cast_vote(rnd.id, "m2", "Max", 1, T0 + 1)
                break
            except StoreUnavailable:
                failures += 1
        assert failures <= 3  # at most one per connection the pool held
        assert [(v.member_id, v.ordinal) for v in await stored_votes(store, rnd.id)] == [
            ("m1", 2),
            ("m2", 1),
        ]


async def test_a_change_of_a_chats_language_is_told_to_every_process(
    postgres_server: PostgresServer,
) -> None:
    """The trigger tells the chat's id when, and only when, its language changes; the other
    process hears it (and, before it hears anything, says so)."""
    async with (
        new_database(postgres_server) as url,
        PostgresDatabase(url) as one,
        PostgresDatabase(url) as other,
    ):
        store, watching = SqlStore(one), SqlStore(other)
        told: list[int | None] = []
        assert not watching.hears_languages()
        await watching.watch_languages(told.append)
        for _ in range(250):
            if watching.hears_languages():
                break
            await asyncio.sleep(0.02)
        assert watching.hears_languages() and told == [None]  # nothing before LISTEN is known
        chat = await store.ensure_chat("telegram", "-1", "Group")
        await store.update_chat_settings(chat.id, ChatSettings(vote_seconds=60))
        await store.ensure_chat("telegram", "-1", "Renamed group")
        await store.update_chat_settings(chat.id, ChatSettings(language="ko"))
        for _ in range(250):
            if len(told) > 1:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # and nothing else comes
        assert told == [None, chat.id]
