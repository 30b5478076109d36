"""Chats, stories and lines: the store's queries for where a story lives and what it says."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.ports import StoreConflict
from bot.core.records import Chat, ChatSettings, Line, LineKind, Story
from storage._rows import (
    CHAT_COLUMNS,
    LINE_COLUMNS,
    SETTINGS_COLUMNS,
    STORY_COLUMNS,
    to_chat,
    to_line,
    to_settings,
    to_story,
)
from storage._sql import NO_LIMIT, SqlDatabase, SqlSession
from storage.errors import NotFound

# A rename on the platform updates the title; an empty title never overwrites a known one.
SQL_ENSURE_CHAT = f"""
INSERT INTO chats (platform, external_id, title, server) VALUES (?, ?, ?, ?)
ON CONFLICT (platform, external_id) DO UPDATE
    SET title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE chats.title END,
        server = CASE WHEN excluded.server <> '' THEN excluded.server ELSE chats.server END
RETURNING {CHAT_COLUMNS}
"""
# What PostgreSQL's trigger of migration 0009 tells, with the chat's id, when its language changes.
LANGUAGE_CHANNEL = "relaytale_chat_language"

SQL_GET_CHAT = f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?"
SQL_CHAT_SETTINGS = f"SELECT {SETTINGS_COLUMNS} FROM chats WHERE id = ?"
SQL_UPDATE_SETTINGS = (
    "UPDATE chats SET temperature = ?, candidates = ?, vote_seconds = ?, language = ? WHERE id = ?"
)

SQL_OPEN_STORY = f"SELECT {STORY_COLUMNS} FROM stories WHERE chat_id = ? AND status = 'open'"
SQL_CHATS_WITH_OPEN_STORIES = f"""
SELECT {CHAT_COLUMNS} FROM chats WHERE id IN (SELECT chat_id FROM stories WHERE status = 'open')
ORDER BY id
"""
SQL_INSERT_STORY = f"""
INSERT INTO stories (chat_id, title, status, created_by, created_at) VALUES (?, ?, 'open', ?, ?)
RETURNING {STORY_COLUMNS}
"""
SQL_GET_STORY = f"SELECT {STORY_COLUMNS} FROM stories WHERE id = ?"
SQL_LIST_STORIES = f"SELECT {STORY_COLUMNS} FROM stories WHERE chat_id = ? ORDER BY id"
SQL_END_STORY = f"""
UPDATE stories SET status = 'ended', ended_at = ? WHERE id = ? AND status = 'open'
RETURNING {STORY_COLUMNS}
"""
SQL_RENAME_STORY = f"""
UPDATE stories SET title = ? WHERE id = ? AND status = 'open' RETURNING {STORY_COLUMNS}
"""
SQL_STORY_STATUS = "SELECT status FROM stories WHERE id = ?"

# Positions count every line ever added, undone ones included, so a position is never reused.
SQL_INSERT_LINE = f"""
INSERT INTO lines (story_id, position, kind, author_id, author_name, text, round_id, created_at)
VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM lines WHERE story_id = ?),
        ?, ?, ?, ?, ?, ?)
RETURNING {LINE_COLUMNS}
"""
# The last N lines, newest first (NO_LIMIT: every line).
SQL_LINES = f"""
SELECT {LINE_COLUMNS} FROM lines WHERE story_id = ? AND (removed = 0 OR ?)
ORDER BY position DESC LIMIT ?
"""
SQL_REMOVE_LAST_LINE = f"""
UPDATE lines SET removed = 1, removed_at = ?
WHERE id = (SELECT id FROM lines WHERE story_id = ? AND removed = 0
            ORDER BY position DESC LIMIT 1)
RETURNING {LINE_COLUMNS}
"""


async def insert_line(
    tx: SqlSession,
    story_id: int,
    kind: LineKind,
    author_id: str,
    author_name: str,
    text: str,
    at: float,
    round_id: int | None,
) -> Line:
    """Append a line inside an open transaction (the caller has checked the story is open)."""
    row = await tx.inserted(
        SQL_INSERT_LINE,
        (story_id, story_id, kind, author_id, author_name, text, round_id, at),
    )
    return to_line(row)


async def story_is_open(tx: SqlSession, story_id: int) -> bool:
    return await tx.single_value(SQL_STORY_STATUS, (story_id,)) == "open"


class StoryQueries:
    """Chats, stories and lines; mixed into SqlStore."""

    _db: SqlDatabase

    # -- chats --------------------------------------------------------------------------------

    async def ensure_chat(
        self, platform: str, external_id: str, title: str, server: str = ""
    ) -> Chat:
        """The chat for this platform id, created on first sight; a title or server given
        replaces the stored one ("" keeps it)."""
        async with self._db.transaction() as tx:
            row = await tx.inserted(SQL_ENSURE_CHAT, (platform, external_id, title, server))
        return to_chat(row)

    async def get_chat(self, chat_id: int) -> Chat | None:
        row = await self._db.fetch_one(SQL_GET_CHAT, (chat_id,))
        return None if row is None else to_chat(row)

    async def chats_with_open_stories(self) -> list[Chat]:
        """Every chat writing a story now (news for all of them)."""
        return [to_chat(r) for r in await self._db.fetch_all(SQL_CHATS_WITH_OPEN_STORIES)]

    async def chat_settings(self, chat_id: int) -> ChatSettings:
        row = await self._db.fetch_one(SQL_CHAT_SETTINGS, (chat_id,))
        if row is None:
            raise NotFound(f"chat {chat_id}")
        return to_settings(row)

    async def update_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        """Replace every override (None clears one back to the config default)."""
        changed = await self._db.execute(
            SQL_UPDATE_SETTINGS,
            (
                settings.temperature,
                settings.candidates,
                settings.vote_seconds,
                settings.language,
                chat_id,
            ),
        )
        if changed == 0:
            raise NotFound(f"chat {chat_id}")

    async def watch_languages(self, changed: Callable[[int | None], None]) -> None:
        """`changed(chat_id)` when any process changes a chat's language (a trigger tells, on
        PostgreSQL), `changed(None)` when changes may have been missed; see hears_languages."""

        def heard(payload: str | None) -> None:
            changed(None if payload is None else int(payload))

        self._db.listen(LANGUAGE_CHANNEL, heard)

    def hears_languages(self) -> bool:
        """Whether every change of a chat's language is heard now."""
        return self._db.hearing(LANGUAGE_CHANNEL)

    # -- stories ------------------------------------------------------------------------------

    async def create_story(self, chat_id: int, title: str, created_by: str, at: float) -> Story:
        """A new open story; StoreConflict("story_open") if the chat already has one."""
        async with self._db.transaction() as tx:
            if await tx.fetch_one(SQL_OPEN_STORY, (chat_id,)) is not None:
                raise StoreConflict("story_open")
            row = await tx.inserted(SQL_INSERT_STORY, (chat_id, title, created_by, at))
        return to_story(row)

    async def open_story(self, chat_id: int) -> Story | None:
        row = await self._db.fetch_one(SQL_OPEN_STORY, (chat_id,))
        return None if row is None else to_story(row)

    async def list_stories(self, chat_id: int) -> list[Story]:
        """The chat's stories, oldest first."""
        return [to_story(r) for r in await self._db.fetch_all(SQL_LIST_STORIES, (chat_id,))]

    async def rename_story(self, story_id: int, title: str) -> Story:
        """A new title for an open story; StoreConflict("no_open_story") once it has ended."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_RENAME_STORY, (title, story_id))
        if row is None:
            raise StoreConflict("no_open_story")
        return to_story(row)

    async def end_story(self, story_id: int, at: float) -> Story:
        """Mark the story ended; ending an ended story returns it unchanged.

        Rounds still open on it are left to the caller (close_round then adds no line).
        """
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_END_STORY, (at, story_id))
            if row is None:
                row = await tx.fetch_one(SQL_GET_STORY, (story_id,))
        if row is None:
            raise NotFound(f"story {story_id}")
        return to_story(row)

    # -- lines --------------------------------------------------------------------------------

    async def add_line(
        self,
        story_id: int,
        kind: LineKind,
        author_id: str,
        author_name: str,
        text: str,
        at: float,
        round_id: int | None = None,
    ) -> Line:
        """Append a line at the next position; StoreConflict("no_open_story") once it ended."""
        async with self._db.transaction() as tx:
            if not await story_is_open(tx, story_id):
                raise StoreConflict("no_open_story")
            line = await insert_line(
                tx, story_id, kind, author_id, author_name, text, at, round_id
            )
        return line

    async def lines(
        self, story_id: int, *, include_removed: bool = False, last: int | None = None
    ) -> list[Line]:
        """Lines in position order; `last=N` keeps only the last N (still in order)."""
        if last is not None and last <= 0:
            return []
        limit = NO_LIMIT if last is None else last
        rows = await self._db.fetch_all(SQL_LINES, (story_id, include_removed, limit))
        return [to_line(r) for r in reversed(rows)]

    async def remove_last_line(self, story_id: int, at: float) -> Line | None:
        """Undo: mark the last visible line removed (it stays in the table); None if none."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_REMOVE_LAST_LINE, (at, story_id))
        return None if row is None else to_line(row)
