"""What the Discord tests share: the members, a guild with the bot running in it (`Guild`) and the
waits the tests take. The `make_guild` and `guild` fixtures: conftest.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.announce import Announcers
from bot.core.records import Round
from bot.platforms.discord import DiscordPlatform
from tests.bot.conftest import World
from tests.bot.platforms.discord.fake_discord import (
    CHANNEL_ID,
    MANAGE_MESSAGES,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    Member,
    Message,
)
from tests.storage.helpers import stored_votes

ALICE = Member(1, "Alice")
BOB = Member(2, "Bob")
CAROL = Member(3, "Carol")
MOD = Member(4, "Mo", MEMBER_PERMISSIONS | MANAGE_MESSAGES)
BOT_CAN_MANAGE = MEMBER_PERMISSIONS | MANAGE_MESSAGES


@dataclass
class Guild:
    """A fake guild with the bot running in it."""

    fake: FakeDiscord
    platform: DiscordPlatform
    world: World
    announcers: Announcers

    async def open_round(self) -> Message:
        """A story, lines from two members, /continue: the round message with its seeds."""
        await self.fake.answer(ALICE, "story new", title="Dragon")
        await self.fake.answer(ALICE, "write", text="The dragon woke under the mountain.")
        await self.fake.answer(BOB, "write", text="용은 천천히 눈을 떴다.")
        reply = await self.fake.answer(ALICE, "continue", keyword="dragon")
        assert not reply.messages()[0].ephemeral and "Round 1 is open" in reply.text()
        (message,) = [m for m in self.fake.channel_messages() if "**Round 1**" in m.content]
        await self.fake.wait_until(lambda: len(message.reactions) == 3)
        return message

    async def round_of(self, message: Message) -> Round:
        found = await self.world.relay.round_by_message(f"dc:{CHANNEL_ID}:{message.id}")
        assert found is not None
        return found

    async def round_is_shown_on(self, round_id: int, message: Message) -> bool:
        found = await self.world.relay.round_by_message(f"dc:{CHANNEL_ID}:{message.id}")
        return found is not None and found.id == round_id

    async def votes_become(self, message: Message, expected: dict[str, int]) -> None:
        round_ = await self.round_of(message)
        await eventually(lambda: self._votes_are(round_.id, expected))

    async def _votes_are(self, round_id: int, expected: dict[str, int]) -> bool:
        votes = await stored_votes(self.world.store, round_id)
        return {v.member_id: v.ordinal for v in votes} == expected

    async def deadline_passes(self, message: Message) -> None:
        """What the scheduler does at the deadline (bot/app.py's round_due); the core
        announces the end."""
        round_ = await self.round_of(message)
        assert round_.deadline is not None
        self.world.clock.t = round_.deadline + 1
        closed = await self.world.relay.close_due(round_.id)
        assert closed is not None

    async def last_line(self) -> tuple[str, str]:
        chat = await self.world.store.ensure_chat("discord", str(CHANNEL_ID), "")
        (story,) = await self.world.store.list_stories(chat.id)
        line = (await self.world.store.lines(story.id))[-1]
        return line.kind, line.text


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the expected state never came")


async def _no_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py waits 5 s before a second IDENTIFY (Discord's rate limit); not here."""


GuildFactory = Callable[..., Awaitable[Guild]]
