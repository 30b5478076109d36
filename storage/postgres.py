"""PostgreSQL through asyncpg, for several bot processes on one database.

The store's statements are SQLite's, written once with `?` placeholders (storage/_sql.py); here
they become PostgreSQL's `$1, $2 …`. Reads use any pooled connection (the last committed
state). Write transactions take one transaction-scoped advisory lock first, so — as with
SQLite's BEGIN IMMEDIATE — they run one at a time across every process, and what a
check-then-write block reads cannot change before it writes. Votes, the busiest writes, are
the exception: each locks its round's row first (as a round's close does), so votes wait only
for what changes the same round. The numbered migrations in
storage/migrations/postgres/ are kept in step with SQLite's (same numbers, same tables and
columns; a test compares them) and are applied under a session advisory lock, so processes
starting together apply each once.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.core.ports import StoreUnavailable
from storage._listening import Listener
from storage._sql import Params, Row
from storage.database import find_migrations
from storage.errors import SchemaError, StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgres"
SCHEMES = ("postgresql", "postgres")
# Advisory lock keys (any two bigints of our own): the one writer, and the migrations.
WRITER_LOCK = 7_245_001
MIGRATION_LOCK = 7_245_002

SQL_LOCK_WRITER = f"SELECT pg_advisory_xact_lock({WRITER_LOCK})"
SQL_LOCK_MIGRATIONS = f"SELECT pg_advisory_lock({MIGRATION_LOCK})"
SQL_UNLOCK_MIGRATIONS = f"SELECT pg_advisory_unlock({MIGRATION_LOCK})"
SQL_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)"
SQL_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
SQL_SET_VERSION = "INSERT INTO schema_version (version) VALUES ($1)"

# `?` or `?N` outside quoted literals; the store's SQL has none inside them.
_PLACEHOLDER = re.compile(r"'[^']*'|\?(\d*)")


def is_postgres_url(target: str) -> bool:
    return urlsplit(target).scheme in SCHEMES


def safe_url(url: str) -> str:
    """The URL as it may be shown: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# What a server that restarts, or a network that drops, raises: the statement did not run.
_GONE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
)


@asynccontextmanager
async def _answered(url: str) -> AsyncIterator[None]:
    """Connection failures as StoreUnavailable (the member is asked to try again); the pool
    replaces the broken connections, so the next statement reconnects."""
    try:
        yield
    except _GONE as exc:
        log.warning("PostgreSQL at %s did not answer: %s", safe_url(url), exc)
        raise StoreUnavailable(str(exc)) from exc


@functools.lru_cache(maxsize=512)
def dollar_params(sql: str) -> str:
    """SQLite's `?` and `?N` placeholders as PostgreSQL's `$N`."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0).startswith("'"):
            return match.group(0)
        if match.group(1):
            return "$" + match.group(1)
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def rows_changed(status: str) -> int:
    """asyncpg's command status ("UPDATE 3", "INSERT 0 1") as a row count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a connection given back: nothing beyond the rollback asyncpg always
    does. Its default (unlock all advisory locks, close cursors, unlisten, reset settings) is
    one more round trip per statement, and the store leaves none of that behind: its advisory
    locks are transaction-scoped but the migrations', which is released explicitly; it opens no
    cursor that outlives a transaction, listens to nothing and changes no setting."""


class PostgresSession:
    """Query helpers over one connection inside a write transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return rows_changed(await self._conn.execute(dollar_params(sql), *params))

    async def inserted(self, sql: str, params: Params = ()) -> Row:
        row = await self.fetch_one(sql, params)
        if row is None:
            raise StorageError("INSERT ... RETURNING returned no row")
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.fetch(dollar_params(sql), *params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._conn.fetchrow(dollar_params(sql), *params)

    async def single_value(self, sql: str, params: Params = ()) -> Any:
        return await self._conn.fetchval(dollar_params(sql), *params)


class PostgresDatabase:
    """A PostgreSQL database: `async with PostgresDatabase(url) as db:` or `await db.open()`."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        migrations_dir: Path = MIGRATIONS_DIR,
    ) -> None:
        if not is_postgres_url(url):
            raise StorageError(f"not a PostgreSQL URL: {safe_url(url)}")
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.migrations_dir = migrations_dir
        self._pool: asyncpg.Pool | None = None
        self._listeners: dict[str, Listener] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> PostgresDatabase:
        """Connect a pool and apply pending migrations. Idempotent per object."""
        if self._pool is not None:
            return self
        migrations = find_migrations(self.migrations_dir)
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self.min_size, max_size=self.max_size, reset=_keep_session
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot reach PostgreSQL at {safe_url(self.url)}: {exc}") from exc
        try:
            await self._migrate(migrations)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        listeners, self._listeners = list(self._listeners.values()), {}
        for listener in listeners:
            await listener.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("the database is not open")
        return self._pool

    # -- migrations -----------------------------------------------------------------------------

    @property
    def known_version(self) -> int:
        """The schema version this code knows: the number of migrations shipped."""
        return len(find_migrations(self.migrations_dir))

    async def schema_version(self) -> int:
        return int(await self.single_value(SQL_VERSION))

    async def _migrate(self, migrations: list[tuple[int, Path]]) -> None:
        """Apply each migration newer than the recorded version, each in its own transaction,
        holding a lock so that processes starting together apply each once."""
        async with self.pool.acquire() as conn:
            await conn.execute(SQL_LOCK_MIGRATIONS)
            try:
                await conn.execute(SQL_VERSION_TABLE)
                current = int(await conn.fetchval(SQL_VERSION))
                if current > len(migrations):
                    raise SchemaError(
                        f"{safe_url(self.url)} has schema version {current}, newer than this "
                        f"code knows ({len(migrations)}); upgrade relaytale"
                    )
                for number, path in migrations[current:]:
                    async with conn.transaction():
                        await conn.execute(path.read_text(encoding="utf-8"))
                        await conn.execute(SQL_SET_VERSION, number)
                    log.info("applied migration %s to %s", path.name, safe_url(self.url))
            finally:
                await conn.execute(SQL_UNLOCK_MIGRATIONS)

    # -- reads ----------------------------------------------------------------------------------

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with _answered(self.url):
            return list(await self.pool.fetch(dollar_params(sql), *params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with _answered(self.url):
            return await self.pool.fetchrow(dollar_params(sql), *params)

    async def single_value(self, sql: str, params: Params = ()) -> Any:
        async with _answered(self.url):
            return await self.pool.fetchval(dollar_params(sql), *params)

    # -- writes (one writer across every process) -----------------------------------------------

    @asynccontextmanager
    async def transaction(self, *, row_locked: bool = False) -> AsyncIterator[PostgresSession]:
        """One write transaction, after every other process's and this one's before it; or,
        `row_locked`, beside them, its first statement locking the row that orders it against
        every transaction it depends on (a vote: its round's). A transaction the server did not
        commit raised StoreUnavailable: nothing of it stays."""
        async with _answered(self.url), self.pool.acquire() as conn, conn.transaction():
            if not row_locked:
                await conn.execute(SQL_LOCK_WRITER)
            yield PostgresSession(conn)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def write_returning(self, sql: str, params: Params = ()) -> Row | None:
        """One statement ... RETURNING on its own: atomic by itself, so it needs neither a
        transaction nor the writers' lock (one round trip)."""
        async with _answered(self.url):
            return await self.pool.fetchrow(dollar_params(sql), *params)

    # -- notices from other processes ------------------------------------------------------------

    def listen(self, channel: str, heard: Callable[[str | None], None]) -> None:
        """Hear `channel`'s notices on a connection of their own (storage/_listening.py), until
        the database is closed."""
        if channel not in self._listeners:
            self._listeners[channel] = Listener(self.url, channel, heard)
            self._listeners[channel].start()

    def hearing(self, channel: str) -> bool:
        listener = self._listeners.get(channel)
        return listener is not None and listener.hearing
