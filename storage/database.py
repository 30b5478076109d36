"""The SQLite database: connections, pragmas, migrations, the single writer, backups.

One file, two aiosqlite connections: a writer, used only inside `transaction()` under an
asyncio.Lock (so there is exactly one writer in this process, and check-then-write code runs
in `BEGIN IMMEDIATE` ... COMMIT), and a read-only reader that sees the last committed state
(WAL lets it read while the writer writes). Other processes on the same file are held off by
SQLite's own locking plus busy_timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from storage.errors import SchemaError, StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "sqlite"
# RETURNING needs 3.35; json_each (used to pass a list as one parameter) is built in from 3.38.
MIN_SQLITE = (3, 38, 0)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")

Params = Sequence[Any]

SQL_USER_VERSION = "PRAGMA user_version"
SQL_BEGIN = "BEGIN IMMEDIATE"
SQL_COMMIT = "COMMIT"
# PRAGMA arguments cannot be bound with `?`; the values below are ints we produce ourselves.
SQL_SET_USER_VERSION = "PRAGMA user_version = {version:d}"
SQL_SETUP = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)
SQL_READ_ONLY = "PRAGMA query_only = ON"
SQL_BACKUP_SELF_CONTAINED = "PRAGMA journal_mode = DELETE"


def find_migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """The numbered migrations in `directory`, checked to run 1, 2, 3 ... without gaps."""
    found: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations in {directory} must be numbered 1..N: {numbers}")
    return found


def split_statements(script: str) -> list[str]:
    """Cut a .sql script into single statements (sqlite3's execute runs one at a time).

    executescript() would do it, but on Python 3.11 it COMMITs any open transaction first,
    which would break running a migration inside our own transaction.
    """
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise SchemaError(f"incomplete SQL statement at the end of a script: {buffer.strip()!r}")
    return [s for s in statements if not _only_comments(s)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


class Session:
    """Query helpers over one connection: the writer inside a transaction, or the reader."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; returns the new row's id."""
        cursor = await self._conn.execute(sql, params)
        try:
            rowid = cursor.lastrowid
        finally:
            await cursor.close()
        if rowid is None:
            raise StorageError("INSERT produced no row id")
        return rowid

    async def inserted(self, sql: str, params: Params = ()) -> sqlite3.Row:
        """Run one INSERT ... RETURNING; returns the new row."""
        row = await self.fetch_one(sql, params)
        if row is None:
            raise StorageError("INSERT ... RETURNING returned no row")
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        rows = await self._conn.execute_fetchall(sql, params)
        return list(rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row, or None. Meant for queries that return at most one row."""
        rows = await self._conn.execute_fetchall(sql, params)
        for row in rows:
            return row
        return None

    async def single_value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]


class Database:
    """An opened SQLite file. Use `async with Database(path) as db:` or `await db.open()`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        migrations_dir: Path = MIGRATIONS_DIR,
    ) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.migrations_dir = migrations_dir
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._read: Session | None = None
        self._write_lock = asyncio.Lock()

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> Database:
        """Connect, set the pragmas and apply pending migrations. Idempotent per object."""
        if self._writer is not None:
            return self
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old; relaytale needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer"
            )
        migrations = find_migrations(self.migrations_dir)  # a packaging mistake fails first
        try:
            self._writer = await self._connect()
            await self._migrate(self._writer, migrations)
            if self.in_memory:
                # A second connection to ":memory:" would be another, empty database.
                self._reader = self._writer
            else:
                self._reader = await self._connect()
                await self._reader.execute(SQL_READ_ONLY)
            self._read = Session(self._reader)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Close both connections (safe to call twice, or after a failed open)."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = self._read = None
        if reader is not None and reader is not writer:
            await reader.close()
        if writer is not None:
            await writer.close()

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: sqlite3 opens no hidden transactions; we issue BEGIN ourselves.
        # timeout= is SQLite's busy_timeout (how long to wait for another process's lock).
        conn = await aiosqlite.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            for pragma in SQL_SETUP:
                await conn.execute(pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    # -- migrations ---------------------------------------------------------------------------

    @property
    def known_version(self) -> int:
        """The schema version this code knows: the number of migrations shipped."""
        return len(find_migrations(self.migrations_dir))

    async def schema_version(self) -> int:
        return int(await self.single_value(SQL_USER_VERSION))

    async def _migrate(
        self, conn: aiosqlite.Connection, migrations: list[tuple[int, Path]]
    ) -> None:
        """Apply each migration newer than PRAGMA user_version, each in its own transaction."""
        session = Session(conn)
        async with self._write_lock:
            for number, path in migrations:
                script = path.read_text(encoding="utf-8")
                # The version is read inside BEGIN IMMEDIATE, so two processes opening a fresh
                # file at once cannot both apply the same migration.
                await conn.execute(SQL_BEGIN)
                try:
                    current = int(await session.single_value(SQL_USER_VERSION))
                    if current > len(migrations):
                        raise SchemaError(
                            f"{self.path} has schema version {current}, newer than this code "
                            f"knows ({len(migrations)}); upgrade relaytale or use another file"
                        )
                    if current < number:
                        for statement in split_statements(script):
                            await conn.execute(statement)
                        await conn.execute(SQL_SET_USER_VERSION.format(version=number))
                        log.info("applied migration %s to %s", path.name, self.path)
                    await conn.execute(SQL_COMMIT)
                except BaseException:
                    await conn.rollback()
                    raise
            if not migrations:
                current = int(await session.single_value(SQL_USER_VERSION))
                if current > 0:
                    raise SchemaError(f"{self.path} has schema version {current}; none known")

    # -- reads (the reader connection: last committed state) -----------------------------------

    @property
    def reader(self) -> Session:
        if self._read is None:
            raise StorageError("the database is not open")
        return self._read

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await self.reader.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return await self.reader.fetch_one(sql, params)

    async def single_value(self, sql: str, params: Params = ()) -> Any:
        return await self.reader.single_value(sql, params)

    # -- writes (the one writer) ------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self, *, row_locked: bool = False) -> AsyncIterator[Session]:
        """One write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any error.

        The lock makes this the only writer in the process; IMMEDIATE takes SQLite's write lock
        up front, so what the block reads cannot change before it writes (`row_locked`, which
        lets PostgreSQL run a transaction beside other writers, changes nothing here).
        """
        async with self._write_lock:
            conn = self._writer
            if conn is None:
                raise StorageError("the database is not open")
            committed = False
            try:
                await conn.execute(SQL_BEGIN)
                yield Session(conn)
                await conn.execute(SQL_COMMIT)
                committed = True
            finally:
                if not committed:
                    # Also reached when cancelled mid-transaction; rollback() is a no-op when
                    # BEGIN never ran, and aiosqlite's queue runs it after anything in flight.
                    await conn.rollback()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def write_returning(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One statement ... RETURNING in SQLite's own transaction (autocommit): one trip."""
        async with self._write_lock:
            conn = self._writer
            if conn is None:
                raise StorageError("the database is not open")
            rows = await conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    # -- notices: one process alone on the file has nobody to hear --------------------------------

    def listen(self, channel: str, heard: Callable[[str | None], None]) -> None:
        """Nothing to hear: this process makes every change to the file itself."""

    def hearing(self, channel: str) -> bool:
        return True

    # -- backups ------------------------------------------------------------------------------

    async def backup(self, dest_path: str | os.PathLike[str]) -> Path:
        """Copy the committed database to `dest_path` with SQLite's online backup API.

        Writes go on meanwhile. The copy is written to a temporary name and renamed, so
        `dest_path` is always either the old backup or the complete new one.
        """
        source = self._reader
        if source is None:
            raise StorageError("the database is not open")
        dest = Path(dest_path)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        target = await asyncio.to_thread(sqlite3.connect, tmp, check_same_thread=False)
        try:
            await source.backup(target)  # pages=0: one step, one consistent snapshot
            await asyncio.to_thread(_finish_backup, target, tmp, dest)
        except BaseException:
            await asyncio.to_thread(target.close)
            await asyncio.to_thread(_unlink_quietly, tmp)
            raise
        return dest


def _finish_backup(target: sqlite3.Connection, tmp: Path, dest: Path) -> None:
    # DELETE journal mode makes the copy one self-contained file (no -wal beside it).
    target.execute(SQL_BACKUP_SELF_CONTAINED)
    target.close()
    os.replace(tmp, dest)


def _unlink_quietly(path: Path) -> None:
    # Cleanup after a failed backup; the original error is what matters.
    path.unlink(missing_ok=True)
