"""bot/platforms/discord/commands.py end to end: the slash commands built from the command table,
synced to the dev guilds or globally; the real discord.py client against the local fake Discord
(fake_discord.py: REST and the gateway over a real WebSocket), the relay core, a real SQLite store,
the fake writer."""

from __future__ import annotations

import discord

from tests.bot.platforms.discord.fake_discord import GUILD_ID
from tests.bot.platforms.discord.helpers import Guild, GuildFactory


async def test_commands_synced_with_descriptions_and_identify_asks_for_reactions(
    guild: Guild,
) -> None:
    """Commands synced with descriptions; intents: reactions, not content; heartbeats acked."""
    synced = guild.fake.commands[GUILD_ID]
    assert {c["name"] for c in synced} == {
        "story",
        "write",
        "continue",
        "round",
        "undo",
        "novel",
        "train",
        "model",
        "settings",
    }

    def walk(options: list[dict[str, object]]) -> list[dict[str, object]]:
        found = list(options)
        for option in options:
            found += walk(option.get("options", []))  # type: ignore[arg-type]
        return found

    for item in walk(synced):
        assert item["description"] and item["description"] != "…", item["name"]
    subcommands = {c["name"]: {o["name"] for o in c.get("options", [])} for c in synced}
    assert subcommands["story"] == {"new", "show", "export", "list", "rename", "end"}
    assert subcommands["round"] == {"show", "close", "cancel"}
    assert subcommands["settings"] == {"show", "set"}
    assert subcommands["novel"] == {"add", "list", "remove"}
    intents = discord.Intents._from_value(guild.fake.intents or 0)
    assert intents.reactions and intents.guilds and not intents.message_content
    assert guild.fake.heartbeats >= 1
    await guild.fake.wait_until(lambda: guild.platform.client.latency < float("inf"))  # ACKed


async def test_commands_sync_globally_without_dev_guilds(make_guild: GuildFactory) -> None:
    """With no dev_guild_ids the commands are synced globally."""
    guild = await make_guild(dev_guild_ids=())
    assert GUILD_ID not in guild.fake.commands and len(guild.fake.commands[None]) == 9
