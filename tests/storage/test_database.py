"""Tests for storage.database: pragmas, migrations, the one writer, durability and backups.

Every test runs on a real SQLite file in tmp_path.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from storage.database import MIGRATIONS_DIR, Database, find_migrations, split_statements
from storage.errors import SchemaError, StorageError

SQL_ADD_CHAT = "INSERT INTO chats (platform, external_id, title) VALUES ('console', ?, '')"
SQL_COUNT_CHATS = "SELECT COUNT(*) FROM chats"
SHIPPED = len(find_migrations())  # the schema version the shipped migrations reach


def migrations_copy(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A migrations folder holding the shipped migrations plus `extra` (name -> SQL)."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for _, path in find_migrations():
        shutil.copy(path, folder / path.name)
    for name, sql in extra.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


async def test_fresh_file_gets_every_migration_and_the_pragmas(db: Database) -> None:
    """A new file is at the newest schema version, in WAL, with foreign keys and busy timeout."""
    assert await db.schema_version() == len(find_migrations(MIGRATIONS_DIR)) == db.known_version
    assert await db.single_value("PRAGMA journal_mode") == "wal"
    assert await db.single_value("PRAGMA foreign_keys") == 1
    assert await db.single_value("PRAGMA synchronous") == 1  # NORMAL
    assert await db.single_value("PRAGMA busy_timeout") == 5000
    async with db.transaction() as tx:
        assert await tx.single_value("PRAGMA foreign_keys") == 1
    tables = {r[0] for r in await db.fetch_all("SELECT name FROM sqlite_master")}
    expected = {"chats", "stories", "lines", "rounds", "candidates", "votes", "novels"}
    assert expected | {"writer_versions", "writer_heads", "training_runs"} <= tables


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    """A migration that inserts a row runs once however often the file is opened."""
    folder = migrations_copy(
        tmp_path, {f"{SHIPPED + 1:04d}_seed.sql": SQL_ADD_CHAT.replace("?", "'seed'") + ";\n"}
    )
    path = tmp_path / "relay.db"
    for _ in range(3):
        async with Database(path, migrations_dir=folder) as db:
            assert await db.schema_version() == SHIPPED + 1
            assert await db.single_value(SQL_COUNT_CHATS) == 1


async def test_database_from_the_future_is_refused(tmp_path: Path) -> None:
    """A file whose user_version is newer than the code's migrations is not touched."""
    path = tmp_path / "relay.db"
    async with Database(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this code"):
        await Database(path).open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


async def test_failing_migration_rolls_back_entirely(tmp_path: Path) -> None:
    """A migration that breaks half-way leaves neither its tables nor its version behind."""
    broken = "CREATE TABLE half (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    folder = migrations_copy(tmp_path, {f"{SHIPPED + 1:04d}_broken.sql": broken})
    path = tmp_path / "relay.db"
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await Database(path, migrations_dir=folder).open()
    async with Database(path) as db:  # the shipped migrations alone still open it
        assert await db.schema_version() == SHIPPED
        assert await db.fetch_one("SELECT name FROM sqlite_master WHERE name = 'half'") is None


async def test_migration_numbers_with_a_gap_are_refused(tmp_path: Path) -> None:
    """1, 2, ... then a gap is a packaging mistake, caught before anything runs."""
    folder = migrations_copy(tmp_path, {f"{SHIPPED + 2:04d}_late.sql": "SELECT 1;\n"})
    with pytest.raises(SchemaError, match="numbered"):
        await Database(tmp_path / "relay.db", migrations_dir=folder).open()
    assert not (tmp_path / "relay.db").exists()


def test_split_statements_keeps_triggers_whole_and_drops_comments() -> None:
    """A trigger body's inner semicolons do not cut it; comment-only chunks vanish."""
    script = (
        "-- header; with a semicolon\n"
        "CREATE TABLE a (x);\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
        "  UPDATE a SET x = 1;\n"
        "  UPDATE a SET x = 2;\n"
        "END;\n"
        "-- trailing comment\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


async def test_foreign_keys_are_enforced(db: Database) -> None:
    """A story for a chat that does not exist is refused by the database itself."""
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.execute(
            "INSERT INTO stories (chat_id, title, created_by, created_at) VALUES (?, ?, ?, ?)",
            (12345, "Orphan", "u1", 0.0),
        )


async def test_transaction_commits_and_the_reader_sees_it(db: Database) -> None:
    """What a transaction wrote is visible to plain reads once it has committed."""
    async with db.transaction() as tx:
        await tx.insert(SQL_ADD_CHAT, ("c1",))
        # The reader connection sees only committed data, so not this row yet.
        assert await db.single_value(SQL_COUNT_CHATS) == 0
        assert await tx.single_value(SQL_COUNT_CHATS) == 1
    assert await db.single_value(SQL_COUNT_CHATS) == 1


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    """An exception inside the block undoes every write of the block."""
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as tx:
            await tx.insert(SQL_ADD_CHAT, ("c1",))
            raise RuntimeError("boom")
    assert await db.single_value(SQL_COUNT_CHATS) == 0
    assert await db.execute(SQL_ADD_CHAT, ("c2",)) == 1  # the writer is usable again


async def test_cancelled_transaction_rolls_back_and_frees_the_writer(db: Database) -> None:
    """A task cancelled mid-transaction leaves no write and no lock behind."""
    entered = asyncio.Event()

    async def slow_writer() -> None:
        async with db.transaction() as tx:
            await tx.insert(SQL_ADD_CHAT, ("c1",))
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(db.execute(SQL_ADD_CHAT, ("c2",)), timeout=5) == 1
    rows = await db.fetch_all("SELECT external_id FROM chats")
    assert [r[0] for r in rows] == ["c2"]


async def test_reader_connection_refuses_writes(db: Database) -> None:
    """Plain reads use a query_only connection, so no write can slip past the lock."""
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await db.fetch_all(SQL_ADD_CHAT, ("c1",))


async def test_concurrent_writes_are_serialised_and_none_is_lost(db: Database) -> None:
    """Fifty tasks doing read-then-write at once all land, each seeing the others' commits."""

    async def bump(i: int) -> None:
        async with db.transaction() as tx:
            count = await tx.single_value(SQL_COUNT_CHATS)
            await asyncio.sleep(0)  # give the others every chance to interleave
            await tx.insert(SQL_ADD_CHAT, (f"c{count}",))

    await asyncio.gather(*(bump(i) for i in range(50)))
    rows = await db.fetch_all("SELECT external_id FROM chats ORDER BY id")
    assert [r[0] for r in rows] == [f"c{i}" for i in range(50)]


async def test_two_databases_on_one_file_wait_for_each_other(tmp_path: Path) -> None:
    """Two openers of one file (as two processes would be) write without losing rows."""
    path = tmp_path / "relay.db"
    async with Database(path) as first, Database(path) as second:
        await asyncio.gather(
            *(first.execute(SQL_ADD_CHAT, (f"a{i}",)) for i in range(20)),
            *(second.execute(SQL_ADD_CHAT, (f"b{i}",)) for i in range(20)),
        )
        assert await first.single_value(SQL_COUNT_CHATS) == 40
        assert await second.single_value(SQL_COUNT_CHATS) == 40


async def test_committed_data_survives_close_and_reopen(tmp_path: Path) -> None:
    """What was committed before close() is there when the file is opened again."""
    path = tmp_path / "relay.db"
    async with Database(path) as db:
        await db.execute(SQL_ADD_CHAT, ("kept",))
    async with Database(path) as db:
        assert await db.single_value("SELECT external_id FROM chats") == "kept"


async def test_backup_is_a_complete_database_that_opens(db: Database, tmp_path: Path) -> None:
    """backup() writes a self-contained copy with the same rows, replacing an older backup."""
    for i in range(5):
        await db.execute(SQL_ADD_CHAT, (f"c{i}",))
    dest = tmp_path / "backups" / "relay-backup.db"
    dest.parent.mkdir()
    assert await db.backup(dest) == dest
    await db.execute(SQL_ADD_CHAT, ("c5",))
    await db.backup(dest)  # the second backup replaces the first
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no temp, no -wal
    async with Database(dest) as copy:
        rows = await copy.fetch_all("SELECT external_id FROM chats ORDER BY id")
        assert [r[0] for r in rows] == [f"c{i}" for i in range(6)]
        assert await copy.schema_version() == await db.schema_version()


async def test_backup_runs_while_writes_go_on(db: Database, tmp_path: Path) -> None:
    """A backup taken during a stream of writes holds a consistent prefix of them."""
    writes = [db.execute(SQL_ADD_CHAT, (f"c{i}",)) for i in range(30)]
    dest = tmp_path / "backup.db"
    await asyncio.gather(*writes[:15], db.backup(dest), *writes[15:])
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute(SQL_COUNT_CHATS).fetchone()[0]
    conn.close()
    assert 0 <= count <= 30
    assert await db.single_value(SQL_COUNT_CHATS) == 30


async def test_in_memory_database_works_on_one_connection() -> None:
    """':memory:' is supported (one connection serves reads and writes)."""
    async with Database(":memory:") as db:
        await db.execute(SQL_ADD_CHAT, ("c1",))
        assert await db.single_value(SQL_COUNT_CHATS) == 1


async def test_closed_database_says_so(tmp_path: Path) -> None:
    """Using a Database after close() raises a StorageError, not an obscure aiosqlite error."""
    db = await Database(tmp_path / "relay.db").open()
    await db.close()
    await db.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="not open"):
        await db.fetch_all(SQL_COUNT_CHATS)
    with pytest.raises(StorageError, match="not open"):
        await db.execute(SQL_ADD_CHAT, ("c1",))
