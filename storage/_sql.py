"""What the store's queries need of a database, whichever it is: SQLite (storage/database.py) or
PostgreSQL (storage/postgres.py). The statements are written once, with `?` placeholders, in
SQL both understand; each database runs them its own way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Params = Sequence[Any]
Row = Any  # sqlite3.Row or asyncpg.Record: both read by position and by column name

# "No limit" for a LIMIT ? parameter (SQLite takes -1 for it, PostgreSQL only NULL or a number).
NO_LIMIT = 2**62


class SqlSession(Protocol):
    """Statements inside one write transaction."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def inserted(self, sql: str, params: Params = ()) -> Row:
        """Run one INSERT ... RETURNING; the new row."""
        ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def single_value(self, sql: str, params: Params = ()) -> Any: ...


class SqlDatabase(Protocol):
    """Reads of the last committed state, and write transactions of one writer at a time."""

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def single_value(self, sql: str, params: Params = ()) -> Any: ...

    def transaction(self, *, row_locked: bool = False) -> AbstractAsyncContextManager[SqlSession]:
        """One write transaction: what it reads cannot change before it writes. `row_locked`:
        its first statement locks the one row that every transaction depending on what it
        changes locks too (a round's row, for its votes), so it need not wait for every other
        writer: PostgreSQL then runs it beside them; SQLite has one writer in any case."""
        ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction."""
        ...

    async def write_returning(self, sql: str, params: Params = ()) -> Row | None:
        """One statement that writes and returns (... RETURNING), atomic by itself: no
        transaction is opened around it, so it costs one trip to the database. Only for a
        statement that reads nothing it then relies on; its first row, or None."""
        ...

    def listen(self, channel: str, heard: Callable[[str | None], None]) -> None:
        """Hear what other processes tell on `channel` (storage/_listening.py): `heard(payload)`
        for each notice, `heard(None)` when notices may have been missed. One process alone on
        the database (SQLite) has nobody to hear."""
        ...

    def hearing(self, channel: str) -> bool:
        """Whether every notice on `channel` is heard now (always, with nobody to hear)."""
        ...
