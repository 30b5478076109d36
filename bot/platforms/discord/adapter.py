"""Discord: the relay story in a server channel, on discord.py 2.7 inside our own asyncio loop.

Thin: every slash command (built from the command table, commands.py) arrives at `invoke`,
which makes one core call through the router and renders the outcome (render.py); a RelayError
becomes an ephemeral reply there and nowhere else. The round message and its reaction votes:
round_board.py.

Sharded ([discord] shard_count > 0): the client is discord.py's AutoShardedClient on this
process's shards (shard_ids), and `takes` tells the core which chats' rounds this process
closes at their deadline: those of the guilds on its shards, (guild_id >> 22) % shard_count.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.config import DiscordConfig
from bot.core.errors import RelayError
from bot.core.records import Chat
from bot.core.registry import Command
from bot.core.router import CommandRouter, Upload
from bot.core.views import Actor, ChatKey, ContinueResult, RoundResult, RoundView, TrainingNews
from bot.i18n import SOURCE, supported, translator
from bot.platforms.discord import render
from bot.platforms.discord._compat import GuardedParsers, point_at_gateway, point_at_rest
from bot.platforms.discord.commands import CatalogueTranslator, slash_commands
from bot.platforms.discord.render import Reply
from bot.platforms.discord.round_board import PLATFORM, RoundBoard, answering

log = logging.getLogger(__name__)


class DiscordPlatform:
    """Runs the Discord client within our lifecycle; the announcer and ballot box for Discord."""

    def __init__(self, router: CommandRouter, token: str, config: DiscordConfig) -> None:
        self.router = router
        self.token = token
        self.config = config
        self.client = relay_client(self)
        self.board = RoundBoard(self.client, router)
        self._gateway: asyncio.Task[None] | None = None
        router.add_ballot_box(PLATFORM, self.board)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (setup_hook syncs the commands), then hold the gateway in a task of ours."""
        point_at_rest(self.config.api_base)
        try:
            await self.client.login(self.token)
            _shards, url, _limits = await self.client.http.get_bot_gateway()
        except BaseException:
            await self.client.close()
            raise
        point_at_gateway(url)
        self._gateway = asyncio.create_task(
            self.client.connect(reconnect=True), name="discord-gateway"
        )
        self._gateway.add_done_callback(_gateway_ended)

    async def stop(self) -> None:
        await self.client.close()
        pending = [*self.board.tasks, *([self._gateway] if self._gateway else [])]
        for task in self.board.tasks:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # logged where it ended
                await task

    async def sync_commands(self) -> None:
        """To the development guilds when configured (instant), else globally (slower)."""
        tree = self.client.tree
        if not self.config.dev_guild_ids:
            await tree.sync()
            return
        for guild_id in self.config.dev_guild_ids:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)

    # -- slash commands -----------------------------------------------------------------------

    async def invoke(
        self, interaction: discord.Interaction, command: Command, options: dict[str, Any]
    ) -> None:
        """One slash command: its core call through the router, then the reply. Refusals are
        ephemeral; slow commands are deferred (Discord waits 3 seconds for an answer)."""
        channel_id = interaction.channel_id
        member = translator(supported(interaction.locale.value) or SOURCE)
        if channel_id is None or interaction.guild_id is None:
            await interaction.response.send_message(
                member.gettext(render.GUILD_ONLY), ephemeral=True
            )
            return
        if command.slow:
            await interaction.response.defer(thinking=True)
        key, actor = _caller(interaction, channel_id)
        token = answering.set(channel_id)
        try:
            outcome = await self.router.run(command, key, actor, options, _upload(options))
            t = translator(await self.router.language(key))
            if isinstance(outcome, ContinueResult):
                await self.board.show_round(channel_id, outcome, t)
        except RelayError as exc:
            member = translator(await self.router.language(key, actor))
            await _refuse(interaction, member.gettext(exc.message, **exc.params))
            return
        except discord.Forbidden:
            await _refuse(interaction, member.gettext(render.NO_PERMISSION))
            return
        finally:
            answering.reset(token)
        await _reply(interaction, render.reply(t, outcome))

    def takes(self, chat: Chat) -> bool:
        """HoldsChats: whether this process closes the channel's rounds at their deadline.
        Unsharded: always. Sharded: when the channel's guild is on one of this process's
        shards; a chat whose guild was never stored (from before migration 0007, until a
        command creates something in it) is taken when the client has the channel cached,
        which it has only for guilds on its shards."""
        count = self.config.shard_count
        if not count:
            return True
        if chat.server.isdigit():
            return shard_of(int(chat.server), count) in self.config.shards
        channel = int(chat.external_id) if chat.external_id.isdigit() else None
        return channel is not None and self.client.get_channel(channel) is not None

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Announcer port: a round ended (see RoundBoard.round_closed)."""
        await self.board.round_closed(chat, result)

    def posts_rounds(self, chat: Chat) -> bool:
        """PostsRounds: a round is a channel message posted after the store opens it."""
        return True

    async def show_round(self, chat: Chat, view: RoundView) -> None:
        """PostsRounds: a round whose opener's process died before posting it."""
        if self.client.is_closed() or not chat.external_id.isdigit():
            return
        channel_id = int(chat.external_id)
        t = translator(await self.router.language(self.board.key(channel_id)))
        await self.board.show_round(channel_id, ContinueResult.unshown(view), t)

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        """Announcer port: a fine-tune of the channel's writer ended."""
        if self.client.is_closed() or not chat.external_id.isdigit():
            return
        channel = self.client.get_partial_messageable(int(chat.external_id))
        t = translator(await self.router.language(self.board.key(int(chat.external_id))))
        try:
            for piece in render.split(render.training(t, news)):
                await channel.send(piece)
        except discord.HTTPException as exc:
            log.warning("could not announce training run %s: %s", news.run.id, exc)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The gateway shard that carries a guild's events (Discord's rule, as `Guild.shard_id`)."""
    return (guild_id >> 22) % shard_count


def relay_client(platform: DiscordPlatform) -> RelayClient:
    """One plain client, or, sharded, one on this process's shards."""
    config = platform.config
    if not config.shard_count:
        return RelayClient(platform)
    return ShardedRelayClient(
        platform, shard_count=config.shard_count, shard_ids=list(config.shards)
    )


class RelayClient(discord.Client):
    """discord.py's client: default intents (reactions included), no message content, no
    message cache, the command table's slash commands, unreadable dispatches skipped."""

    def __init__(self, platform: DiscordPlatform, **shards: Any) -> None:
        intents = discord.Intents.default()
        intents.reactions = True
        intents.message_content = False
        super().__init__(
            intents=intents,
            max_messages=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **shards,
        )
        self.platform = platform
        self.tree = _Tree(self, allowed_contexts=app_commands.AppCommandContext(guild=True))
        for command in slash_commands(platform):
            self.tree.add_command(command)
        self._connection.parsers = GuardedParsers(self._connection.parsers)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogueTranslator())
        await self.platform.sync_commands()

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self.platform.board.reaction(event)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self.platform.board.reaction(event)


class ShardedRelayClient(RelayClient, discord.AutoShardedClient):
    """RelayClient on the shards `shard_ids` of `shard_count`, each its own gateway connection
    (every one to the URL `GET /gateway/bot` gave: see _compat.point_at_gateway)."""


class _Tree(app_commands.CommandTree[RelayClient]):
    async def on_error(
        self, interaction: discord.Interaction[RelayClient], error: app_commands.AppCommandError
    ) -> None:
        """Unknown commands and bugs: logged, and the member is not left waiting."""
        data: dict[str, Any] = dict(interaction.data or {})
        name = data.get("name", "?")
        quiet = isinstance(error, app_commands.CommandNotFound)
        log.warning("slash command /%s failed: %s", name, error, exc_info=not quiet)
        member = translator(supported(interaction.locale.value) or SOURCE)
        with contextlib.suppress(discord.HTTPException):
            await _refuse(interaction, member.gettext(render.FAILED))


def _upload(options: dict[str, Any]) -> Upload | None:
    """An attached file (/novel add), taken out of the options; fetched only once the router and
    the core accepted who sent it, its name and its size."""
    name = next((k for k, v in options.items() if isinstance(v, discord.Attachment)), None)
    if name is None:
        return None
    attachment: discord.Attachment = options.pop(name)

    async def download() -> bytes:
        try:
            return await attachment.read()
        except discord.HTTPException as exc:
            raise RelayError("I could not download that file from Discord; try again.") from exc

    return Upload(attachment.filename, attachment.size, download)


def _caller(interaction: discord.Interaction, channel_id: int) -> tuple[ChatKey, Actor]:
    user = interaction.user
    title = getattr(interaction.channel, "name", "") or ""
    permissions = interaction.permissions  # the member's, in this channel; checked here, in code
    actor = Actor(
        str(user.id),
        user.display_name,
        is_moderator=permissions.manage_messages or permissions.administrator,
        language=interaction.locale.value,
    )
    locale = interaction.guild_locale.value if interaction.guild_locale else ""
    guild = str(interaction.guild_id or "")
    return ChatKey(PLATFORM, str(channel_id), title, language=locale, server=guild), actor


async def _refuse(interaction: discord.Interaction[Any], text: str) -> None:
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)
        return
    # After a public defer: drop the "thinking…" message and answer privately.
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True)


async def _reply(interaction: discord.Interaction, reply: Reply) -> None:
    first, *rest = render.split(reply.text)
    files = []
    if reply.file is not None:
        data = io.BytesIO(reply.file.content.encode("utf-8"))
        files.append(discord.File(data, filename=reply.file.filename))
    if reply.picture is not None and Path(reply.picture).is_file():
        files.append(discord.File(reply.picture, filename="loss.png"))
    if interaction.response.is_done():
        await interaction.edit_original_response(content=first, attachments=files)
    else:
        await interaction.response.send_message(first, files=files)
    for piece in rest:
        await interaction.followup.send(piece)


def _gateway_ended(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("the Discord gateway connection ended", exc_info=task.exception())
    else:
        log.info("the Discord gateway connection closed")
