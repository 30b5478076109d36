"""How rounds end (the winner, ties, no votes, the deadline) and what a restart finds."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.core.closing import CLOSES_AT_ONCE
from bot.core.context import SHOW_GRACE
from bot.core.records import Ballot, Chat, ClosedRound, Round
from bot.core.views import ChatKey, RoundResult, RoundView
from tests.bot.conftest import ALICE, BOB, CAROL, CHAT, MOD, World, start_story
from tests.storage.helpers import cand


@dataclass
class Listener:
    """An announcer that remembers what it was told."""

    told: list[tuple[str, int]] = field(default_factory=list)

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        self.told.append((result.reason, result.view.id))


async def test_a_stuck_round_reopens_for_the_chats_own_vote_time(world: World) -> None:
    """A round a crash left 'generating' with candidates gets the chat's /settings set vote_time
    at start-up, not the global one."""
    await world.relay.change_setting(CHAT, "vote_time", "300")
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    place = await world.store.place_of_chat(CHAT.platform, CHAT.external_id)
    assert place is not None and place.story is not None
    # The bot died after the writer answered, before the round opened for votes.
    stuck = await world.store.create_round(place.story.id, "alice", "Alice", world.clock.now())
    await world.store.add_candidates(stuck.id, [cand("left over")], 9)
    world.clock.t += 5
    assert await world.relay.recover() == []
    reopened = (await world.store.place_of_round(stuck.id)).round  # type: ignore[union-attr]
    assert reopened is not None and reopened.status == "voting"
    assert reopened.deadline == world.clock.now() + 300
    assert world.timers.armed == {stuck.id: world.clock.now() + 300}


async def test_every_way_a_round_ends_is_announced_once(world: World) -> None:
    """Deadline, moderator, quorum and cancel all reach the announcer; closing twice does not."""
    listener = Listener()
    world.announcers.register("console", listener)
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    first = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.close_round(CHAT, MOD)
    second = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.cancel_round(CHAT, MOD)
    third = await world.relay.continue_story(CHAT, ALICE)
    world.clock.t += 10_000
    await world.relay.close_due(third.view.id)
    await world.relay.close_due(third.view.id)
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, quorum=1)
    fourth = await world.relay.continue_story(CHAT, BOB)
    await world.relay.vote(CHAT, BOB, 1)
    assert listener.told == [
        ("moderator, no votes", first.view.id),
        ("cancelled", second.view.id),
        ("deadline, no votes", third.view.id),
        ("quorum", fourth.view.id),
    ]


async def test_ending_the_story_announces_its_cancelled_round(world: World) -> None:
    """/story end cancels the open round and the platform is told (its message is updated)."""
    listener = Listener()
    world.announcers.register("console", listener)
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.end_story(CHAT, MOD)
    assert listener.told == [("cancelled", opened.view.id)]


async def test_close_adds_winner_credited_to_the_writer(world: World) -> None:
    """The most-voted candidate becomes the story's last line, by the writer."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, ALICE, 2)
    await world.relay.vote(CHAT, BOB, 2)
    await world.relay.vote(CHAT, CAROL, 3)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2
    assert result.line is not None and result.line.kind == "ai"
    story = await world.relay.show_story(CHAT)
    assert story.lines[-1].text == opened.view.candidates[1].text
    assert story.lines[-1].author_name == "the writer"
    assert opened.view.id not in world.timers.armed


async def test_votes_stored_while_the_round_is_closing_are_counted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Votes that land after the closer's last look at the round (another process takes them;
    here, just before the close's transaction) are counted: the close counts the votes its own
    transaction reads, and the result shows them."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, ALICE, 1)
    close = world.store.close_round

    async def two_votes_then_close(round_id: int, *args: Any) -> ClosedRound | None:
        for member in ("bob", "carol"):
            await world.store.cast_vote(opened.view.id, member, member, 2, world.clock.now())
        return await close(round_id, *args)

    monkeypatch.setattr(world.store, "close_round", two_votes_then_close)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2
    assert result.view.total_votes == 3


async def test_tie_goes_to_the_writers_score_then_order(world: World) -> None:
    """Equal votes: the higher mean log-probability wins; equal scores: the earlier one."""
    await start_story(world)
    world.writer.scores = [-2.0, -1.0, -1.0]
    await world.relay.continue_story(CHAT, ALICE)
    for actor, ordinal in ((ALICE, 1), (BOB, 2), (CAROL, 3)):
        await world.relay.vote(CHAT, actor, ordinal)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2


async def test_no_votes_skips_by_default(world: World) -> None:
    """A round nobody voted in adds nothing (relay.no_votes = "skip")."""
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is None and result.line is None
    assert (await world.relay.show_story(CHAT)).total_lines == 2


async def test_no_votes_best_score_setting(world: World) -> None:
    """With no_votes = "best_score" the writer's favourite joins the story."""
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, no_votes="best_score")
    await start_story(world)
    world.writer.scores = [-3.0, -0.5, -1.0]
    await world.relay.continue_story(CHAT, ALICE)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2


async def test_deadline_closes_the_round(world: World) -> None:
    """close_due closes a round whose deadline passed and reports its chat."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 3)
    assert await world.relay.close_due(opened.view.id) is None  # too early: re-armed
    world.clock.t += 121
    closed = await world.relay.close_due(opened.view.id)
    assert closed is not None
    chat, result = closed
    assert chat.external_id == CHAT.external_id and result.winner is not None
    assert result.reason == "deadline" and result.winner.ordinal == 3
    assert await world.relay.close_due(opened.view.id) is None  # only once


@dataclass
class SlowListener:
    """An announcer whose platform answers only when let: how many ends are told at once."""

    let: asyncio.Event = field(default_factory=asyncio.Event)
    telling: int = 0
    most_at_once: int = 0
    told: int = 0

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        self.telling += 1
        self.most_at_once = max(self.most_at_once, self.telling)
        await self.let.wait()
        self.telling -= 1
        self.told += 1


async def test_rounds_due_together_close_a_few_at_a_time(world: World) -> None:
    """Rounds the writer opened in one batch fall due together: their closes take turns, so
    members' votes meanwhile find the process free; every one still closes."""
    listener = SlowListener()
    world.announcers.register("console", listener)
    rounds = []
    for n in range(CLOSES_AT_ONCE * 3):
        chat = ChatKey("console", f"room-{n}", f"Room {n}")
        await world.relay.new_story(chat, ALICE, "Dragon")
        rounds.append((await world.relay.continue_story(chat, ALICE)).view.id)
    world.clock.t += 121
    closing = asyncio.gather(*(world.relay.close_due(r) for r in rounds))  # as the scheduler
    for _ in range(100):  # until they have started (or a second has passed)
        await asyncio.sleep(0.01)
    assert listener.telling == CLOSES_AT_ONCE  # the others wait their turn
    listener.let.set()
    closed = await closing
    assert all(c is not None for c in closed) and listener.told == len(rounds)
    assert listener.most_at_once == CLOSES_AT_ONCE


async def test_the_sweep_closes_more_rounds_than_one_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead process leaves a writer batch of rounds due together, more than the sweep reads
    at a time: one sweep closes them all, not one batch per sweep (5 s apart)."""
    monkeypatch.setattr("bot.core.closing.SWEEP_BATCH", 4)
    rounds = []
    for n in range(11):
        chat = ChatKey("console", f"room-{n}", f"Room {n}")
        await world.relay.new_story(chat, ALICE, "Dragon")
        rounds.append((await world.relay.continue_story(chat, ALICE)).view.id)
    world.clock.t += 121
    closed = await world.relay.close_overdue()
    assert sorted(result.view.id for _, result in closed) == sorted(rounds)
    assert await world.store.due_rounds(world.clock.now()) == []


async def test_the_sweep_goes_on_past_rounds_closed_meanwhile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first rounds a sweep reads are closed meanwhile (by this process's own timers, or by
    another process): it still closes the rest now, rather than at the next sweep, 5 s on."""
    monkeypatch.setattr("bot.core.closing.SWEEP_BATCH", 4)
    for n in range(11):
        chat = ChatKey("console", f"room-{n}", f"Room {n}")
        await world.relay.new_story(chat, ALICE, "Dragon")
        await world.relay.continue_story(chat, ALICE)
    world.clock.t += 121
    read = world.store.due_rounds
    reads = 0

    async def closed_meanwhile(
        now: float, limit: int = 100, after: tuple[float, int] | None = None
    ) -> list[Round]:
        nonlocal reads
        due = await read(now, limit, after)
        reads += 1
        if reads == 1:  # a timer closes each of the first batch before the sweep gets to it
            for round_ in due:
                await world.relay.close_due(round_.id)
        return due

    monkeypatch.setattr(world.store, "due_rounds", closed_meanwhile)
    closed = await world.relay.close_overdue()
    assert len(closed) == 7
    assert await read(world.clock.now()) == []


class OneShard(Listener):
    """A platform that holds only the chats not named "other-…" (another process's shard)."""

    def takes(self, chat: Chat) -> bool:
        return not chat.external_id.startswith("other")


async def test_the_sweep_reads_past_more_rounds_than_a_batch_that_it_leaves_open(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rounds than the sweep reads at a time are due in chats another process holds (its
    shard is down), with the oldest deadlines: the sweep leaves them open and still closes this
    process's own due rounds behind them."""
    monkeypatch.setattr("bot.core.closing.SWEEP_BATCH", 4)
    world.announcers.register("console", OneShard())
    theirs, ours = [], []
    for name in [f"other-{n}" for n in range(6)] + [f"room-{n}" for n in range(3)]:
        chat = ChatKey("console", name, name)
        await world.relay.new_story(chat, ALICE, "Dragon")
        opened = await world.relay.continue_story(chat, ALICE)
        (theirs if name.startswith("other") else ours).append(opened.view.id)
        world.clock.t += 1  # theirs fall due first
    world.clock.t += 121
    closed = await world.relay.close_overdue()
    assert sorted(result.view.id for _, result in closed) == sorted(ours)
    assert sorted(r.id for r in await world.store.due_rounds(world.clock.now())) == theirs


async def test_recover_rearms_open_rounds(world: World) -> None:
    """At start-up every voting round's deadline is armed again."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    world.timers.armed.clear()
    assert await world.relay.recover() == []
    assert world.timers.armed == {opened.view.id: opened.view.round.deadline}


async def test_recover_closes_overdue_rounds_at_once(world: World) -> None:
    """A round whose deadline passed while the bot was down closes at start-up, votes counted."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 2)
    world.clock.t += 3600
    ((chat, result),) = await world.relay.recover()
    assert chat.external_id == CHAT.external_id
    assert result.view.id == opened.view.id and result.winner is not None
    assert result.winner.ordinal == 2 and world.timers.armed == {}


class _BrokenBallotBox:
    async def ballots(self, chat: Chat, round_: Round) -> list[Ballot] | None:
        raise RuntimeError("the platform is down")


async def test_unreadable_ballot_box_does_not_keep_a_round_open(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """If the platform's reactions cannot be read at close, the stored votes decide."""
    world.relay.add_ballot_box("console", _BrokenBallotBox())
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.set_round_message(opened.view.id, "somewhere:1")
    await world.relay.vote(CHAT, ALICE, 2)
    world.clock.t += 10_000
    closed = await world.relay.close_due(opened.view.id)
    assert closed is not None and closed[1].winner is not None
    assert closed[1].winner.ordinal == 2
    assert "reading the votes of round 1 on console failed" in caplog.text


@dataclass
class Holder(Listener):
    """An announcer that holds only some chats in this process (as Discord's shards do)."""

    holds: bool = False

    def takes(self, chat: Chat) -> bool:
        return self.holds


async def test_a_due_round_waits_for_a_process_that_takes_its_chat(world: World) -> None:
    """Past its deadline, a round whose chat this process does not hold stays open (timer and
    sweep alike); once the chat is held it closes at once, late, the votes counted."""
    holder = Holder()
    world.announcers.register("console", holder)
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 3)
    world.clock.t += 10_000
    assert await world.relay.close_due(opened.view.id) is None
    assert await world.relay.close_overdue() == []
    assert await world.relay.open_round(CHAT) is not None and holder.told == []
    holder.holds = True
    ((_, result),) = await world.relay.close_overdue()
    assert result.winner is not None and result.winner.ordinal == 3
    assert holder.told == [("deadline", opened.view.id)]


async def test_a_moderator_closes_a_round_whatever_the_process_holds(world: World) -> None:
    """/round close reaches the process the command came to: it closes there."""
    holder = Holder()
    world.announcers.register("console", holder)
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 1)
    await world.relay.close_round(CHAT, MOD)
    assert holder.told == [("moderator", opened.view.id)]


@dataclass
class Poster(Listener):
    """An announcer whose platform posts a round as a message once it is open (Telegram,
    Discord): it remembers the rounds a sweep asked it to post."""

    posted: list[int] = field(default_factory=list)

    def posts_rounds(self, chat: Chat) -> bool:
        return True

    async def show_round(self, chat: Chat, view: RoundView) -> None:
        self.posted.append(view.id)


async def test_a_round_its_process_never_posted_is_posted_with_a_fresh_vote_time(
    world: World,
) -> None:
    """The process died between opening the round and posting it, so nobody saw it: it does not
    close at its deadline; once its message is overdue a sweep posts it, once, with the chat's
    whole vote time again; posted, it closes at that new deadline."""
    poster = Poster()
    world.announcers.register("console", poster)
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    assert opened.view.round.show_by == world.clock.now() + SHOW_GRACE
    world.clock.t += SHOW_GRACE - 1
    assert await world.relay.close_overdue() == [] and poster.posted == []
    world.clock.t += 10_000  # long past its deadline
    assert await world.relay.close_due(opened.view.id) is None
    assert await world.relay.close_overdue() == []
    assert poster.posted == [opened.view.id] and poster.told == []
    place = await world.store.place_of_round(opened.view.id)
    assert place is not None and place.round is not None
    assert place.round.deadline == world.clock.now() + 120
    assert world.timers.armed[opened.view.id] == world.clock.now() + 120
    await world.relay.close_overdue()
    assert poster.posted == [opened.view.id]  # its poster has SHOW_GRACE to record it
    await world.relay.set_round_message(opened.view.id, "somewhere:1")
    world.clock.t += 121
    ((_, result),) = await world.relay.close_overdue()
    assert result.view.id == opened.view.id
    assert poster.told == [("deadline, no votes", opened.view.id)]


async def test_a_posted_round_is_not_posted_again(world: World) -> None:
    """A round whose message was recorded closes at its deadline and is never posted again."""
    poster = Poster()
    world.announcers.register("console", poster)
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.set_round_message(opened.view.id, "somewhere:1")
    world.clock.t += 10_000
    ((_, result),) = await world.relay.close_overdue()
    assert result.view.id == opened.view.id and poster.posted == []


async def test_a_platform_showing_rounds_in_its_replies_has_nothing_to_post(world: World) -> None:
    """The console shows a round in the reply that opens it: nothing is left to post later."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    assert opened.view.round.show_by is None and not opened.view.round.unshown
