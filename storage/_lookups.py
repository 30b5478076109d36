"""One-call reads for the hot paths: where a chat stands, and a round as members see it.

A vote, a tap or a reaction needs the chat, its open story and its round, then the round's
candidates and votes: each of these answers in one store call (one JOIN, or a few SELECTs on
the reader), so an interaction costs a handful of calls and one write.
"""

from __future__ import annotations

from typing import Any

from bot.core.records import Chat, RoundPlace, RoundSnapshot
from storage._rows import (
    CANDIDATE_COLUMNS,
    CHAT_COLUMNS,
    ROUND_COLUMNS,
    STORY_COLUMNS,
    VOTE_COLUMNS,
    prefixed,
    to_candidate,
    to_chat,
    to_round,
    to_story,
    to_vote,
    width,
)
from storage._sql import SqlDatabase


def _nulls(columns: str, prefix: str = "") -> str:
    """NULL in place of each column of a list, named `prefix` + its name when a prefix is
    given (the first SELECT of a UNION names the columns)."""
    names = [name.strip() for name in columns.split(",")]
    return ", ".join(f"NULL AS {prefix}{name}" if prefix else "NULL" for name in names)


_SELECT_PLACE = (
    f"SELECT {prefixed('c', CHAT_COLUMNS)}, {prefixed('s', STORY_COLUMNS)}, "
    f"{prefixed('r', ROUND_COLUMNS)}"
)
SQL_FIND_CHAT = f"SELECT {CHAT_COLUMNS} FROM chats WHERE platform = ? AND external_id = ?"
# The chat, its open story (if any) and that story's open round (if any).
SQL_PLACE_OF_CHAT = f"""
{_SELECT_PLACE}
FROM chats c
LEFT JOIN stories s ON s.chat_id = c.id AND s.status = 'open'
LEFT JOIN rounds r ON r.story_id = s.id AND r.status IN ('generating', 'voting')
WHERE c.platform = ? AND c.external_id = ?
ORDER BY r.id DESC LIMIT 1
"""
# A round asked for by id, with its own story and chat (the caller checks the chat).
SQL_PLACE_OF_ROUND = f"""
{_SELECT_PLACE}
FROM rounds r JOIN stories s ON s.id = r.story_id JOIN chats c ON c.id = s.chat_id
WHERE r.id = ?
"""
SQL_ROUND_REVISION = "SELECT revision FROM rounds WHERE id = ?"
# A round as members see it, in one statement (so its revision matches the votes read with it):
# the round's row with its story's title, joined to its candidates (kind 1, by ordinal) and its
# votes (kind 2, in the order cast); one row of NULL kind while it has neither.
SQL_SNAPSHOT_ROUND = f"""
SELECT {prefixed("r", ROUND_COLUMNS)}, s.title, r.revision, x.*
FROM rounds r JOIN stories s ON s.id = r.story_id
LEFT JOIN (
    SELECT 1 AS kind, {CANDIDATE_COLUMNS}, {_nulls(VOTE_COLUMNS, "vote_")}
    FROM candidates WHERE round_id = ?
    UNION ALL
    SELECT 2, {_nulls(CANDIDATE_COLUMNS)}, {VOTE_COLUMNS} FROM votes WHERE round_id = ?
) x ON 1 = 1
WHERE r.id = ?
ORDER BY x.kind, x.ordinal, x.vote_cast_at, x.vote_member_id
"""

_CHAT_END = width(CHAT_COLUMNS)
_STORY_END = _CHAT_END + width(STORY_COLUMNS)
_ROUND_END = width(ROUND_COLUMNS)
_KIND = _ROUND_END + 2  # after the story's title and the round's revision
_VOTE_START = _KIND + 1 + width(CANDIDATE_COLUMNS)


class LookupQueries:
    """Reads that answer an interaction's questions in one call; mixed into SqlStore."""

    _db: SqlDatabase

    async def find_chat(self, platform: str, external_id: str) -> Chat | None:
        """The chat, if it has ever been seen (a read: no upsert)."""
        row = await self._db.fetch_one(SQL_FIND_CHAT, (platform, external_id))
        return None if row is None else to_chat(row)

    async def place_of_chat(self, platform: str, external_id: str) -> RoundPlace | None:
        """The chat, its open story and that story's open round; None for a chat never seen."""
        row = await self._db.fetch_one(SQL_PLACE_OF_CHAT, (platform, external_id))
        return None if row is None else _place(tuple(row))

    async def place_of_round(self, round_id: int) -> RoundPlace | None:
        """A round with its own story and chat; None if there is no such round."""
        row = await self._db.fetch_one(SQL_PLACE_OF_ROUND, (round_id,))
        return None if row is None else _place(tuple(row))

    async def round_revision(self, round_id: int) -> int | None:
        """The round's revision (every change of it bumps it); None if there is no such round."""
        value = await self._db.single_value(SQL_ROUND_REVISION, (round_id,))
        return None if value is None else int(value)

    async def round_snapshot(self, round_id: int) -> RoundSnapshot | None:
        """The round, its story's title, its candidates and its votes, read at one moment."""
        query = (round_id, round_id, round_id)
        rows = [tuple(row) for row in await self._db.fetch_all(SQL_SNAPSHOT_ROUND, query)]
        if not rows:
            return None
        values = rows[0]
        return RoundSnapshot(
            round=to_round(values[:_ROUND_END]),
            story_title=values[_ROUND_END],
            candidates=[to_candidate(r[_KIND + 1 : _VOTE_START]) for r in rows if r[_KIND] == 1],
            votes=[to_vote(r[_VOTE_START:]) for r in rows if r[_KIND] == 2],
            revision=values[_ROUND_END + 1],
        )


def _place(values: tuple[Any, ...]) -> RoundPlace:
    story = values[_CHAT_END:_STORY_END]
    round_ = values[_STORY_END:]
    return RoundPlace(
        chat=to_chat(values[:_CHAT_END]),
        story=None if story[0] is None else to_story(story),
        round=None if round_[0] is None else to_round(round_),
    )
