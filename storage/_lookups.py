"""One-call reads for the hot paths: where a chat stands, and a round as members see it.

A vote, a tap or a reaction needs the chat, its open story and its round, then the round's
candidates and votes: each of these answers in one store call (one JOIN, or a few SELECTs on
the reader), so an interaction costs a handful of calls and one write.
"""

from __future__ import annotations

from typing import Any

from bot.core.records import Chat, RoundPlace, RoundSnapshot
from storage._rounds import SQL_VOTES
from storage._rows import (
    CANDIDATE_COLUMNS,
    CHAT_COLUMNS,
    ROUND_COLUMNS,
    STORY_COLUMNS,
    prefixed,
    to_candidate,
    to_chat,
    to_round,
    to_story,
    to_vote,
    width,
)
from storage._sql import SqlDatabase

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
# A round with its story's title and its candidates, one row per candidate (one row of NULL
# candidate columns while it has none): candidates never change once written, so reading them
# with the round saves a trip to the database on every vote.
SQL_SNAPSHOT_ROUND = f"""
SELECT {prefixed("r", ROUND_COLUMNS)}, s.title, r.revision, {prefixed("c", CANDIDATE_COLUMNS)}
FROM rounds r JOIN stories s ON s.id = r.story_id
LEFT JOIN candidates c ON c.round_id = r.id
WHERE r.id = ? ORDER BY c.ordinal
"""

_CHAT_END = width(CHAT_COLUMNS)
_STORY_END = _CHAT_END + width(STORY_COLUMNS)
_ROUND_END = width(ROUND_COLUMNS)
_CANDIDATE_START = _ROUND_END + 2  # after the story's title and the round's revision


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

    async def round_snapshot(self, round_id: int) -> RoundSnapshot | None:
        """The round (read first: its revision is never newer than the votes read after it),
        its story's title, candidates and votes."""
        rows = [tuple(row) for row in await self._db.fetch_all(SQL_SNAPSHOT_ROUND, (round_id,))]
        if not rows:
            return None
        values = rows[0]
        votes = await self._db.fetch_all(SQL_VOTES, (round_id,))
        return RoundSnapshot(
            round=to_round(values[:_ROUND_END]),
            story_title=values[_ROUND_END],
            candidates=[to_candidate(r[_CANDIDATE_START:]) for r in rows if r[_CANDIDATE_START]],
            votes=[to_vote(v) for v in votes],
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
