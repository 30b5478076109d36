"""Every command of the table, on every platform, as a member and as a moderator: a
moderators-only command refuses a member with the table's sentence, and every other run gets
the command's answer. The table is walked, so a new command is walked too (it only needs an
example below)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.config import DiscordConfig
from bot.core.registry import COMMANDS, Command
from bot.core.relay import Relay
from bot.core.views import Actor, ChatKey
from bot.platforms.console import CHAT as CONSOLE_CHAT
from bot.platforms.console import ConsolePlatform
from bot.platforms.discord import DiscordPlatform
from tests.bot.conftest import World
from tests.bot.platforms.discord.fake_discord import CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.bot.platforms.discord.fake_discord import Upload as DcUpload
from tests.bot.platforms.discord.helpers import ALICE as DC_ALICE
from tests.bot.platforms.discord.helpers import MOD as DC_MOD
from tests.bot.platforms.discord.helpers import _no_wait
from tests.bot.platforms.telegram.fake_bot_api import FakeBotAPI, administrator
from tests.bot.platforms.telegram.helpers import ADA, ALICE, GROUP, GROUP_KEY, Setup

NOVEL = "The sea was calm that night, and the lamp burned until dawn. " * 40


@dataclass(frozen=True)
class Example:
    """How a member runs the command on each platform, and the chat it needs first."""

    text: str  # typed (console, Telegram)
    options: dict[str, Any]  # Discord's options
    needs_story: bool = True  # a story with lines, an open round with votes, and a novel


EXAMPLES: dict[str, Example] = {
    "/story new <title>": Example("/story new Nightfall", {"title": "Nightfall"}, False),
    "/story show": Example("/story", {}),
    "/story export [txt|md]": Example("/story export md", {"format": "md"}),
    "/story list": Example("/story list", {}),
    "/story rename <title>": Example("/story rename Nightfall", {"title": "Nightfall"}),
    "/story end": Example("/story end", {}),
    "/write <text>": Example("/write The keeper climbed the stairs.", {"text": "Up he went."}),
    "/continue [keyword] [length]": Example("/continue lamp", {"keyword": "lamp"}),
    "/vote <n>": Example("/vote 2", {}),
    "/unvote": Example("/unvote", {}),
    "/round show": Example("/round", {}),
    "/round close": Example("/round close", {}),
    "/round cancel": Example("/round cancel", {}),
    "/undo": Example("/undo", {}),
    "/settings show": Example("/settings", {}),
    "/settings set <temperature|candidates|vote_time|language> <value>": Example(
        "/settings set temperature 0.5", {"name": "temperature", "value": "0.5"}
    ),
    "/novel add <file>": Example("/novel add", {}),
    "/novel list": Example("/novel", {}),
    "/novel remove <novel_id>": Example("/novel remove 1", {"novel_id": 1}),
    "/train now": Example("/train now", {}),
    "/train status": Example("/train", {}),
    "/model show": Example("/model", {}),
    "/model rollback <version>": Example("/model rollback 0", {"version": 0}),
    "/help": Example("/help", {}),
}
ROLES = ("member", "moderator")


def test_every_command_has_an_example() -> None:
    """The walk below covers the whole table."""
    assert sorted(EXAMPLES) == sorted(c.usage for c in COMMANDS)


async def prepare(relay: Relay, key: ChatKey, voters: list[Actor], example: Example) -> None:
    """The chat a command needs: a story with two lines, an open round each voter voted in,
    and a novel; or nothing at all (/story new)."""
    if not example.needs_story:
        return
    author = voters[0]
    await relay.new_story(key, author, "Dragon")
    await relay.write(key, author, "The dragon woke under the mountain.")
    await relay.write(key, author, "It listened to the rain.")
    await relay.add_novel(key, author, "sea.txt", NOVEL.encode())
    await relay.continue_story(key, author)
    for voter in voters:
        await relay.vote(key, voter, 1)


def expect(command: Command, role: str, said: str) -> None:
    """The table's refusal for a member of a moderators-only command, else no refusal."""
    if role == "member" and command.moderator:
        assert command.moderators_only in said, said
    else:
        assert "⚠️" not in said and "Only moderators" not in said, said


def walked(slash_only: bool = False) -> list[Any]:
    return [
        pytest.param(command, role, id=f"{command.usage.split(' <')[0]} as {role}")
        for command in COMMANDS
        for role in ROLES
        if command.slash or not slash_only
    ]


# -- the console: everyone there is a moderator -------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.usage.split(" <")[0])
async def test_console(world: World, tmp_path: Path, command: Command) -> None:
    example = EXAMPLES[command.usage]
    out = io.StringIO()
    console = ConsolePlatform(
        world.router, "you", tmp_path / "exports", 1_000_000, io.StringIO(), out
    )
    world.announcers.register("console", console)
    await prepare(world.relay, CONSOLE_CHAT, [Actor("you", "you", is_moderator=True)], example)
    text = example.text
    if command.usage.startswith("/novel add"):
        (tmp_path / "book.txt").write_text(NOVEL + " More.", encoding="utf-8")
        text = f"/novel add {tmp_path / 'book.txt'}"
    await console.handle(text)
    expect(command, "moderator", out.getvalue())


# -- Telegram: administrators are moderators ------------------------------------------------------


@pytest.fixture
async def telegram(world: World, tmp_path: Path) -> AsyncIterator[Setup]:
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP["id"]] = [administrator(ADA, owner=True)]
    try:
        yield Setup(fake, tmp_path / "relay.db", world.writer, world.clock, world.trainer)
    finally:
        await fake.close()


@pytest.mark.parametrize(("command", "role"), walked())
async def test_telegram(telegram: Setup, command: Command, role: str) -> None:
    example = EXAMPLES[command.usage]
    sender = ADA if role == "moderator" else ALICE
    async with telegram.bot() as bot:
        voters = [Actor(str(ALICE["id"]), "Alice"), Actor(str(ADA["id"]), "Ada")]
        await prepare(bot.relay, GROUP_KEY, voters, example)
        mark = len(telegram.fake.calls)
        if command.usage.startswith("/novel add"):
            telegram.fake.document(GROUP, sender, "book.txt", NOVEL.encode() + b"!", "/novel add")
        else:
            telegram.fake.command(GROUP, sender, example.text)
        expect(command, role, await first_answer(telegram.fake, mark))


async def first_answer(fake: FakeBotAPI, after: int) -> str:
    """The text (or a file's caption) of the bot's first message since call `after`."""
    for _ in range(500):
        for call in fake.calls[after:]:
            if call.method in ("sendMessage", "sendDocument") and isinstance(call.result, dict):
                return str(call.params.get("text") or call.params.get("caption") or "")
        await asyncio.sleep(0.01)
    raise AssertionError("the bot did not answer")


# -- Discord: members with Manage Messages are moderators; votes are reactions, not commands -----


@pytest.fixture
async def guild(world: World, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    # start() sets these class attributes; the test leaves them as it found them.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    fake = FakeDiscord([DC_ALICE, DC_MOD])
    await fake.start()
    platform = DiscordPlatform(
        world.router,
        "test-token",
        DiscordConfig(api_base=fake.api_base, dev_guild_ids=(GUILD_ID,)),
    )
    monkeypatch.setattr(platform.client, "before_identify_hook", _no_wait)
    world.announcers.register("discord", platform)
    await platform.start()
    await fake.connected()
    try:
        yield fake
    finally:
        await platform.stop()
        await fake.close()


@pytest.mark.parametrize(("command", "role"), walked(slash_only=True))
async def test_discord(world: World, guild: FakeDiscord, command: Command, role: str) -> None:
    example = EXAMPLES[command.usage]
    member = DC_MOD if role == "moderator" else DC_ALICE
    key = ChatKey("discord", str(CHANNEL_ID))
    voters = [Actor(str(m.id), m.name) for m in (DC_ALICE, DC_MOD)]
    await prepare(world.relay, key, voters, example)
    options = dict(example.options)
    if command.usage.startswith("/novel add"):
        options["file"] = DcUpload("book.txt", NOVEL.encode() + b"!")
    words = " ".join(w for w in (command.name, command.sub) if w)
    reply = await guild.answer(member, words, **options)
    refused = any(m.ephemeral for m in reply.messages())
    expect(command, role, reply.text() + ("⚠️" if refused else ""))
