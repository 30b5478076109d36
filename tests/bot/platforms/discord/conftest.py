"""The Discord tests' fixtures: `make_guild` starts a fake guild with the bot in it, `guild` is one
with the defaults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from bot.config import DiscordConfig
from bot.platforms.discord import DiscordPlatform
from tests.bot.conftest import World
from tests.bot.platforms.discord.fake_discord import GUILD_ID, FakeDiscord
from tests.bot.platforms.discord.helpers import (
    ALICE,
    BOB,
    BOT_CAN_MANAGE,
    CAROL,
    MOD,
    Guild,
    GuildFactory,
    _no_wait,
)


@pytest.fixture
async def make_guild(world: World, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GuildFactory]:
    started: list[Guild] = []
    # start() sets these class attributes; the test leaves them as it found them.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )

    async def make(
        bot_permissions: int = BOT_CAN_MANAGE,
        dev_guild_ids: tuple[int, ...] = (GUILD_ID,),
        guild_locale: str = "en-US",
        shard_count: int = 0,
        shard_ids: tuple[int, ...] = (),
    ) -> Guild:
        fake = FakeDiscord(
            [ALICE, BOB, CAROL, MOD],
            bot_permissions=bot_permissions,
            guild_locale=guild_locale,
            shards=max(shard_count, 1),
        )
        await fake.start()
        platform = DiscordPlatform(
            world.router,
            "test-token",
            DiscordConfig(
                api_base=fake.api_base,
                dev_guild_ids=dev_guild_ids,
                shard_count=shard_count,
                shard_ids=shard_ids,
            ),
        )
        monkeypatch.setattr(platform.client, "before_identify_hook", _no_wait)
        world.announcers.register("discord", platform)
        guild = Guild(fake, platform, world, world.announcers)
        started.append(guild)
        await platform.start()
        await fake.connected()
        return guild

    yield make
    for guild in started:
        await guild.platform.stop()
        await guild.fake.close()
        assert not guild.fake.errors


@pytest.fixture
async def guild(make_guild: GuildFactory) -> Guild:
    return await make_guild()
