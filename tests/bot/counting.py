"""A counting wrapper around the real store: how many store calls and write transactions an
interaction costs (the store itself is the real SqlStore on a real file)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from storage import Database, Session, SqlStore


class CountingStore:
    """Every awaited store method is counted by name (plain ones are not); writes are counted
    as the Database's write transactions."""

    def __init__(self, db: Database) -> None:
        self._store = SqlStore(db)
        self.calls: list[str] = []
        self.writes = 0
        original = db.transaction

        @contextlib.asynccontextmanager
        async def counted(*, row_locked: bool = False) -> AsyncIterator[Session]:
            self.writes += 1
            async with original(row_locked=row_locked) as tx:
                yield tx

        db.transaction = counted  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not inspect.iscoroutinefunction(method):  # a plain attribute or a question
            return method

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return counted

    def reset(self) -> None:
        self.calls.clear()
        self.writes = 0

    def measure(self) -> Callable[[], tuple[int, int]]:
        """Start counting afresh; the returned function gives (calls, writes) since then."""
        self.reset()
        return lambda: (len(self.calls), self.writes)
