"""What the storage tests build on: a story, candidates, a voting round; and reads of a round
made the way the bot makes them."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from bot.core.ports import CountVotes, Store, StoreConflict
from bot.core.records import NewCandidate, Round, Story, Vote

T0 = 1_700_000_000.0
WRITER = ("writer", "The Writer")


async def new_story(store: Store, external_id: str = "c1") -> Story:
    chat = await store.ensure_chat("console", external_id, "Console")
    return await store.create_story(chat.id, "Dragon", "u1", T0)


def cand(text: str, by: str = "u1") -> NewCandidate:
    return NewCandidate(text, -1.0, "", 120, 0.8, 7, by, by.upper())


async def voting_round(store: Store, n: int = 3, external_id: str = "c1") -> Round:
    """An open story with a round in voting that has `n` candidates ("text 1", ...)."""
    story = await new_story(store, external_id)
    rnd = await store.create_round(story.id, "u1", "U1", T0)
    await store.add_candidates(rnd.id, [cand(f"text {i}") for i in range(1, n + 1)], 9)
    return await store.open_voting(rnd.id, T0 + 60)


async def open_round(store: Store, external_id: str = "c1") -> Round | None:
    """The chat's open round, found as the bot finds it (place_of_chat)."""
    place = await store.place_of_chat("console", external_id)
    return None if place is None else place.round


async def read_round(store: Store, round_id: int) -> Round | None:
    """The round as stored now, read as the bot reads it (round_snapshot)."""
    snapshot = await store.round_snapshot(round_id)
    return None if snapshot is None else snapshot.round


async def conflict(awaitable: Awaitable[object]) -> str:
    """The reason of the StoreConflict the awaitable raises."""
    with pytest.raises(StoreConflict) as info:
        await awaitable
    return info.value.reason


async def stored_votes(store: Store, round_id: int) -> list[Vote]:
    """The round's votes as the store keeps them, read the way the bot reads them."""
    snapshot = await store.round_snapshot(round_id)
    assert snapshot is not None
    return snapshot.votes


async def column(store: Store, sql: str, *params: object) -> object:
    """One value the Store port does not show (a column kept for the record), read straight
    from the store's database, SQLite or PostgreSQL."""
    return await store._db.single_value(sql, params)  # type: ignore[attr-defined]


def verdict(winner_id: int | None, reason: str) -> CountVotes:
    """A close's count that names this winner and reason whatever the votes (the tests that
    are about what the close writes, not how it counts)."""
    return lambda candidates, votes: (winner_id, reason)
