"""Discord's gateway shards ([discord] shard_count, shard_ids): the bot identifies only its own
shards (discord.py's AutoShardedClient against the fake Discord), and a guild's rounds are
closed at their deadline by a process that holds the guild's shard, (guild_id >> 22) %
shard_count, not by another process on the same database; a round whose shard nobody held
closes, late, when a process holding it starts, the reactions cast meanwhile counted."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import discord
import pytest

from bot.announce import Announcers
from bot.config import DiscordConfig, NovelsConfig, RelayConfig
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.i18n import languages
from bot.platforms.discord import DiscordPlatform
from bot.platforms.discord.adapter import shard_of
from storage import Database, SqlStore
from tests.bot.conftest import FakeTimers, FakeWriter
from tests.bot.platforms.discord.fake_discord import CHANNEL_ID, GUILD_ID
from tests.bot.platforms.discord.helpers import BOB, CAROL, Guild, GuildFactory, _no_wait

# Discord's docs' example guild, a few others, and ids on either side of a shift boundary.
GUILD_IDS = [GUILD_ID, 41771983423143937, 1 << 22, (1 << 22) - 1, 0, 2**63 - 1, 987654321012345678]

StartShards = Callable[[tuple[int, ...]], Awaitable[tuple[Relay, DiscordPlatform]]]


@pytest.mark.parametrize("guild_id", GUILD_IDS)
@pytest.mark.parametrize("shard_count", [1, 2, 3, 16])
def test_the_shard_of_a_guild_is_discord_pys(guild_id: int, shard_count: int) -> None:
    """Our formula gives the shard discord.py's Guild.shard_id gives for the same count."""
    guild = discord.Guild.__new__(discord.Guild)
    guild.id = guild_id
    guild._state = types.SimpleNamespace(shard_count=shard_count)  # what shard_id reads
    assert shard_of(guild_id, shard_count) == guild.shard_id


async def test_unsharded_stays_one_plain_client(guild: Guild) -> None:
    """Without shard_count: discord.Client, an IDENTIFY without a shard, every chat taken."""
    assert type(guild.platform.client).__mro__[1] is discord.Client
    assert guild.fake.identified == [None]
    assert not isinstance(guild.platform.client, discord.AutoShardedClient)


@pytest.fixture
async def sharded(make_guild: GuildFactory) -> Guild:
    """The test's bot process holds shard 1 of 2: the fake guild's."""
    return await make_guild(shard_count=2, shard_ids=(1,))


@pytest.fixture
async def other_process(
    sharded: Guild, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartShards]:
    """Another bot process on the same SQLite file and the same fake Discord, on the shards
    it is given, sharing the test's clock."""
    guild = sharded
    async with AsyncExitStack() as stack:

        async def start(shard_ids: tuple[int, ...]) -> tuple[Relay, DiscordPlatform]:
            db = await stack.enter_async_context(Database(guild.world.db_path))
            announcers = Announcers()
            relay = Relay(
                SqlStore(db),
                FakeWriter(),
                guild.world.clock,
                FakeTimers(),
                RelayConfig(),
                NovelsConfig(),
                announcer=announcers,
                languages=languages(),
            )
            config = DiscordConfig(
                api_base=guild.fake.api_base,
                dev_guild_ids=(GUILD_ID,),
                shard_count=2,
                shard_ids=shard_ids,
            )
            platform = DiscordPlatform(CommandRouter(relay), "test-token", config)
            monkeypatch.setattr(platform.client, "before_identify_hook", _no_wait)
            announcers.register("discord", platform)
            await platform.start()
            stack.push_async_callback(platform.stop)
            return relay, platform

        yield start


async def test_a_guilds_round_closes_in_the_process_holding_its_shard(
    sharded: Guild, other_process: StartShards
) -> None:
    """Two processes on one database, shard 1 and shard 0 of 2: the guild (shard 1) is in
    the first; at the deadline the second's sweep leaves its round open, the first's closes
    it and announces it in the channel."""
    fake, client = sharded.fake, sharded.platform.client
    assert isinstance(client, discord.AutoShardedClient)
    guild = client.get_guild(GUILD_ID)
    assert guild is not None and guild.shard_id == shard_of(GUILD_ID, 2) == 1
    message = await sharded.open_round()
    chat = await sharded.world.store.find_chat("discord", str(CHANNEL_ID))
    assert chat is not None and chat.server == str(GUILD_ID)

    other, other_platform = await other_process((0,))
    await fake.wait_until(lambda: fake.identified == [[1, 2], [0, 2]])
    await fake.wait_until(lambda: other_platform.client.user is not None)  # its READY, read
    assert other_platform.client.get_guild(GUILD_ID) is None  # not on its shard
    assert sharded.platform.takes(chat) and not other_platform.takes(chat)
    unplaced = dataclasses.replace(chat, server="")  # a chat from before migration 0007
    assert sharded.platform.takes(unplaced) and not other_platform.takes(unplaced)  # cached?

    await fake.react(BOB, message.id, "2️⃣")
    await sharded.votes_become(message, {"2": 2})
    round_ = await sharded.round_of(message)
    assert round_.deadline is not None
    sharded.world.clock.t = round_.deadline + 1
    assert await other.close_overdue() == []
    assert await other.close_due(round_.id) is None
    assert (await sharded.round_of(message)).status == "voting"

    ((_, result),) = await sharded.world.relay.close_overdue()
    assert result.reason == "deadline" and result.winner is not None
    assert result.winner.ordinal == 2
    assert "2️⃣ won with 1 vote" in fake.channel_messages()[-1].content
    assert await sharded.last_line() == ("ai", "dragon candidate 101-1.")


async def test_a_round_whose_shard_was_down_closes_late_when_it_returns(
    sharded: Guild, other_process: StartShards
) -> None:
    """The process holding the guild's shard stops; the deadline passes while only shard 0
    runs (the round stays open; a reaction comes meanwhile); a process holding shard 1
    starts: the round closes at once, the late reaction counted."""
    fake = sharded.fake
    message = await sharded.open_round()
    round_ = await sharded.round_of(message)
    await sharded.platform.stop()
    other, _ = await other_process((0,))
    assert round_.deadline is not None
    sharded.world.clock.t = round_.deadline + 60
    assert await other.close_overdue() == []
    await fake.react(CAROL, message.id, "3️⃣")  # while nobody holds the guild's shard

    returning, _ = await other_process((1,))
    ((_, result),) = await returning.recover()
    assert result.view.id == round_.id and result.reason == "deadline"
    assert result.winner is not None and result.winner.ordinal == 3
    assert "3️⃣ won with 1 vote" in fake.channel_messages()[-1].content


async def test_shard_ids_left_empty_holds_every_shard(make_guild: GuildFactory) -> None:
    """shard_count 2 and no shard_ids: both shards identify; every guild's rounds are taken."""
    guild = await make_guild(shard_count=2)
    await guild.fake.wait_until(lambda: sorted(guild.fake.identified) == [[0, 2], [1, 2]])
    message = await guild.open_round()
    await guild.fake.react(BOB, message.id, "1️⃣")
    await guild.votes_become(message, {"2": 1})
    await guild.deadline_passes(message)
    assert "1️⃣ won with 1 vote" in guild.fake.channel_messages()[-1].content
