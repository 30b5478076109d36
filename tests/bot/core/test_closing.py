"""How rounds end and what a restart finds, beyond the facade tests of test_relay.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bot.core.records import Chat
from bot.core.views import RoundResult
from tests.bot.conftest import ALICE, BOB, CHAT, MOD, World
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
