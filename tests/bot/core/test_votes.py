"""Votes: one per member per round, moved and taken back, refused once the round closed; the
quorum; and what a vote costs on the real store (a counting wrapper around SqlStore on a real
file), through the same calls the platforms make."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import NovelsConfig, RelayConfig
from bot.core.errors import RelayError
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.core.views import ChatKey
from storage import Database
from tests.bot.conftest import (
    ALICE,
    BOB,
    CAROL,
    CHAT,
    MOD,
    FakeClock,
    FakeTimers,
    FakeWriter,
    World,
    start_story,
)
from tests.bot.counting import CountingStore

# Before the second pass a vote cost about 24 store calls and 4 write transactions.
MAX_CALLS, MAX_WRITES = 6, 1


@dataclass
class Counted:
    relay: Relay
    router: CommandRouter
    store: CountingStore


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[Counted]:
    async with Database(tmp_path / "votes.db") as db:
        store = CountingStore(db)
        relay = Relay(
            store, FakeWriter(), FakeClock(), FakeTimers(), RelayConfig(), NovelsConfig()
        )
        await relay.new_story(CHAT, ALICE, "Dragon")
        await relay.continue_story(CHAT, ALICE)
        yield Counted(relay, CommandRouter(relay), store)


async def test_a_typed_vote_costs_one_write_and_few_calls(counted: Counted) -> None:
    """/vote 2 through the text router: within the budget, and the result carries the view."""
    cost = counted.store.measure()
    result = await counted.router.handle(CHAT, BOB, "/vote 2")
    calls, writes = cost()
    assert calls <= MAX_CALLS and writes == MAX_WRITES, counted.store.calls
    assert [c.votes for c in result.view.candidates] == [0, 1, 0]  # type: ignore[union-attr]


async def test_a_moved_vote_and_a_taken_back_vote_cost_the_same(counted: Counted) -> None:
    """Moving a vote and /unvote stay within the budget too."""
    await counted.relay.vote(CHAT, BOB, 1)
    for text in ("/vote 3", "/unvote"):
        cost = counted.store.measure()
        await counted.router.handle(CHAT, BOB, text)
        calls, writes = cost()
        assert calls <= MAX_CALLS and writes == MAX_WRITES, (text, counted.store.calls)


async def test_a_button_tap_costs_the_budget_with_its_check(counted: Counted) -> None:
    """A Telegram tap: the adapter's check of the open round, then the toggle."""
    cost = counted.store.measure()
    open_round = await counted.relay.open_round(CHAT)
    assert open_round is not None
    first = await counted.relay.toggle_vote(CHAT, CAROL, 2, open_round.id)
    calls, writes = cost()
    assert calls <= MAX_CALLS and writes == MAX_WRITES, counted.store.calls
    # The check read the round as the chat's: the tap does not look up whose it is again.
    assert counted.store.calls == ["place_of_chat", "toggle_vote", "round_snapshot"]
    assert first.change.current == 2
    again = await counted.relay.toggle_vote(CHAT, CAROL, 2, open_round.id)
    assert again.change.current is None and again.view.total_votes == 0


async def test_a_reaction_and_its_removal_cost_the_budget(counted: Counted) -> None:
    """A Discord reaction: the round found by its message, then the vote; taking back the old
    reaction of a moved vote changes nothing and writes nothing lasting."""
    open_round = await counted.relay.open_round(CHAT)
    assert open_round is not None
    await counted.relay.set_round_message(open_round.id, "dc:1:2")
    cost = counted.store.measure()
    found = await counted.relay.round_by_message("dc:1:2")
    assert found is not None
    await counted.relay.vote(CHAT, BOB, 1, found.id)
    calls, writes = cost()
    assert calls <= MAX_CALLS and writes == MAX_WRITES, counted.store.calls
    await counted.relay.vote(CHAT, BOB, 2, found.id)
    cost = counted.store.measure()
    assert await counted.relay.withdraw_vote(CHAT, BOB, 1, found.id) is None
    calls, writes = cost()
    assert calls <= MAX_CALLS and writes <= MAX_WRITES


async def test_votes_move_and_are_removed(world: World) -> None:
    """One vote per member: voting again moves it, /unvote removes it."""
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, ALICE, 1)
    await world.relay.vote(CHAT, BOB, 1)
    moved = await world.relay.vote(CHAT, BOB, 2)
    assert (moved.change.previous, moved.change.current) == (1, 2)
    assert [c.votes for c in moved.view.candidates] == [1, 1, 0]
    removed = await world.relay.unvote(CHAT, ALICE)
    assert removed.change.current is None
    assert removed.view.total_votes == 1


async def test_vote_for_missing_candidate_refused(world: World) -> None:
    """A vote for candidate 7 of 3 is refused and counts nothing."""
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    with pytest.raises(RelayError, match="no candidate 7"):
        await world.relay.vote(CHAT, BOB, 7)
    assert (await world.relay.current_round(CHAT)).total_votes == 0


async def test_vote_after_close_refused(world: World) -> None:
    """Once a round has closed, a vote on it is refused."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.close_round(CHAT, MOD)
    with pytest.raises(RelayError, match="closed"):
        await world.relay.vote(CHAT, BOB, 1, round_id=opened.view.id)


async def test_a_vote_naming_another_chats_round_is_refused_whatever_was_seen(
    world: World,
) -> None:
    """Whose a round is, once read, is remembered: it lets this chat's taps skip the lookup and
    never lets another chat vote in it."""
    other = ChatKey("console", "other-chat", "Other chat")
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    assert await world.relay.open_round(CHAT) is not None  # read as this chat's
    with pytest.raises(RelayError, match="another chat"):
        await world.relay.vote(other, BOB, 1, round_id=opened.view.id)
    with pytest.raises(RelayError, match="does not exist"):
        await world.relay.vote(CHAT, BOB, 1, round_id=opened.view.id + 1)
    assert (await world.relay.current_round(CHAT)).total_votes == 0


async def test_quorum_closes_early(world: World) -> None:
    """With relay.quorum = 2 the second vote closes the round."""
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, quorum=2)
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    first = await world.relay.vote(CHAT, ALICE, 1)
    assert first.closed is None
    second = await world.relay.vote(CHAT, BOB, 1)
    assert second.closed is not None and second.closed.reason == "quorum"
