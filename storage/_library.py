"""Novels: the texts moderators bring for their chat's writer to learn from."""

from __future__ import annotations

import time

from bot.core.ports import StoreConflict
from bot.core.records import Novel
from storage._rows import NOVEL_COLUMNS, to_novel
from storage._sql import SqlDatabase

SQL_NOVEL_BY_SHA = """
SELECT 1 FROM novels WHERE chat_id = ? AND sha256 = ? AND status <> 'removed'
"""
SQL_INSERT_NOVEL = f"""
INSERT INTO novels (chat_id, title, sha256, chars, text, status, added_by, created_at,
                    added_by_name, encoding)
VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
RETURNING {NOVEL_COLUMNS}
"""
SQL_NOVELS = f"""
SELECT {NOVEL_COLUMNS} FROM novels WHERE chat_id = ? AND (status <> 'removed' OR ?) ORDER BY id
"""
SQL_REMOVE_NOVEL = f"""
UPDATE novels SET status = 'removed', removed_at = ?
WHERE id = ? AND chat_id = ? AND status <> 'removed'
RETURNING {NOVEL_COLUMNS}
"""


class LibraryQueries:
    """Novels; mixed into SqlStore."""

    _db: SqlDatabase

    async def add_novel(
        self,
        chat_id: int,
        title: str,
        sha256: str,
        text: str,
        added_by: str,
        at: float,
        added_by_name: str = "",
        encoding: str = "UTF-8",
    ) -> Novel:
        """Queue a novel for training; StoreConflict("duplicate") if the chat already has it.
        One transaction: a crash leaves the novel whole or absent, never half-written."""
        async with self._db.transaction() as tx:
            if await tx.fetch_one(SQL_NOVEL_BY_SHA, (chat_id, sha256)) is not None:
                raise StoreConflict("duplicate")
            row = await tx.inserted(
                SQL_INSERT_NOVEL,
                (chat_id, title, sha256, len(text), text, added_by, at, added_by_name, encoding),
            )
        return to_novel(row)

    async def novels(self, chat_id: int, *, include_removed: bool = False) -> list[Novel]:
        """The chat's novels, oldest first (without their text)."""
        rows = await self._db.fetch_all(SQL_NOVELS, (chat_id, include_removed))
        return [to_novel(r) for r in rows]

    async def remove_novel(self, chat_id: int, novel_id: int) -> Novel | None:
        """Mark the chat's novel removed (kept, no longer trained on); None if not found."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_REMOVE_NOVEL, (time.time(), novel_id, chat_id))
        return None if row is None else to_novel(row)
