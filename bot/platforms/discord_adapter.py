"""Discord: the relay story in a server channel, on discord.py 2.7 inside our own asyncio loop.

Thin: every slash command parses its options, makes one Relay call and renders the outcome with
discord_render; `answer` is the one place a RelayError becomes a reply (an ephemeral one). A
round's candidates live in one channel message whose keycap reactions are the votes, read from
raw gateway events (no message cache). Its id is the round's message_ref
("dc:<channel>:<message>"), so a reaction finds its round in the store; and just before a round
closes the core reads the reactions back through `ballots` (its BallotBox port), so votes cast
while the bot was offline still count.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.config import DiscordConfig
from bot.core.commands import CommandRouter, Result
from bot.core.errors import RelayError
from bot.core.keycaps import keycap, ordinal_of
from bot.core.records import Ballot, Chat, Round
from bot.core.relay import Relay
from bot.core.views import Actor, ChatKey, ContinueResult, NovelList, RoundResult, VoteResult
from bot.platforms import discord_render as render
from bot.platforms.discord_render import Reply

log = logging.getLogger(__name__)

PLATFORM = "discord"
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Who asked and where: what every core call needs."""

    key: ChatKey
    actor: Actor
    channel_id: int


def message_ref(channel_id: int, message_id: int) -> str:
    """A round message's id in the store; unique across channels."""
    return f"dc:{channel_id}:{message_id}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    prefix, _, rest = ref.partition(":")
    channel, _, message = rest.partition(":")
    if prefix != "dc" or not channel.isdigit() or not message.isdigit():
        return None
    return int(channel), int(message)


class DiscordPlatform:
    """Runs the Discord client within our lifecycle; the announcer and ballot box for Discord."""

    def __init__(
        self, relay: Relay, router: CommandRouter, token: str, config: DiscordConfig
    ) -> None:
        self.relay = relay
        self.router = router  # for commands the core only knows as text (/train)
        self.token = token
        self.config = config
        self.client = RelayClient(self)
        self._gateway: asyncio.Task[None] | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._queued: set[str] = set()  # round messages with a live-count edit waiting
        self._tasks: set[asyncio.Task[None]] = set()
        relay.add_ballot_box(PLATFORM, self)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (setup_hook syncs the commands), then hold the gateway in a task of ours."""
        # discord.py reads both as class attributes; set them so a local server works too.
        discord.http.Route.BASE = self.config.api_base.rstrip("/")
        try:
            await self.client.login(self.token)
            _shards, url, _limits = await self.client.http.get_bot_gateway()
        except BaseException:
            await self.client.close()
            raise
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self._gateway = asyncio.create_task(
            self.client.connect(reconnect=True), name="discord-gateway"
        )
        self._gateway.add_done_callback(_gateway_ended)

    async def stop(self) -> None:
        await self.client.close()
        pending = [*self._tasks, *([self._gateway] if self._gateway else [])]
        for task in self._tasks:
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

    async def answer(
        self,
        interaction: discord.Interaction,
        call: Callable[[Context], Awaitable[T]],
        show: Callable[[T], Reply],
        *,
        defer: bool = False,
    ) -> None:
        """Run one core call for a slash command and reply; refusals are ephemeral."""
        if interaction.channel_id is None or interaction.guild_id is None:
            await interaction.response.send_message(render.GUILD_ONLY, ephemeral=True)
            return
        if defer:  # the writer or a download may take longer than Discord's 3 seconds
            await interaction.response.defer(thinking=True)
        try:
            reply = show(await call(_context(interaction, interaction.channel_id)))
        except RelayError as exc:
            await _refuse(interaction, str(exc))
            return
        except discord.Forbidden:
            await _refuse(interaction, render.NO_PERMISSION)
            return
        await _reply(interaction, reply)

    async def continue_story(self, c: Context, keyword: str, length: int | None) -> ContinueResult:
        """/continue, and the round message: posted with its reactions, or edited to add more."""
        result = await self.relay.continue_story(c.key, c.actor, keyword, length)
        view = result.view
        ref = parse_ref(view.round.message_ref)
        if ref is None:
            channel = self.client.get_partial_messageable(c.channel_id)
            message: discord.Message | discord.PartialMessage = await channel.send(
                render.round_message(view)
            )
            await self.relay.set_round_message(view.id, message_ref(c.channel_id, message.id))
            seeds = [candidate.ordinal for candidate in view.candidates]
        else:
            message = self._message(*ref)
            async with self._lock("edit", view.round.message_ref):
                await message.edit(content=render.round_message(view))
            seeds = result.added
        try:
            for ordinal in seeds:
                await message.add_reaction(keycap(ordinal))
        except discord.Forbidden:  # members can still react with the keycaps themselves
            log.warning("no Add Reactions permission in channel %s", c.channel_id)
        return result

    async def close_round(self, c: Context, cancel: bool) -> RoundResult:
        """/round close or cancel: the reply tells the outcome; the round message shows it."""
        if cancel:
            result = await self.relay.cancel_round(c.key, c.actor)
        else:
            result = await self.relay.close_round(c.key, c.actor)
        self._spawn(self._show_end(result))
        return result

    async def add_novel(self, c: Context, upload: discord.Attachment) -> NovelList:
        """/novel add: the cheap checks before the download, the full ones after."""
        await self.relay.check_novel_upload(c.key, c.actor, upload.filename, upload.size)
        try:
            data = await upload.read()
        except discord.HTTPException as exc:
            raise RelayError("I could not download that file from Discord; try again.") from exc
        return await self.relay.add_novel(c.key, c.actor, upload.filename, data)

    # -- votes by reaction --------------------------------------------------------------------

    async def reaction(self, event: discord.RawReactionActionEvent) -> None:
        """A keycap on a round message is a vote; taking it back withdraws the vote."""
        me = self.client.user
        if me is None or event.user_id == me.id:  # our own seeded reactions never count
            return
        if event.member is not None and event.member.bot:
            return
        ordinal = ordinal_of(str(event.emoji))
        if ordinal is None:  # any other emoji is just a reaction
            return
        ref = message_ref(event.channel_id, event.message_id)
        added = event.event_type == "REACTION_ADD"
        name = event.member.display_name if event.member else str(event.user_id)
        key = ChatKey(PLATFORM, str(event.channel_id))
        actor = Actor(str(event.user_id), name)
        result: VoteResult | None
        async with self._lock("vote", ref):  # one member's add and remove, in order
            round_ = await self.relay.round_by_message(ref)
            if round_ is None:  # not a round message
                return
            try:
                if added:
                    result = await self.relay.vote(key, actor, ordinal, round_.id)
                else:
                    result = await self.relay.withdraw_vote(key, actor, ordinal, round_.id)
            except RelayError as exc:
                log.info("reaction on round %s not counted: %s", round_.id, exc)
                return
        if result is None:  # the old reaction of a moved vote
            return
        previous = result.change.previous
        if added and previous is not None and previous != ordinal:
            await self._remove_stale(event, previous)
        if result.closed is not None:  # the quorum was reached
            await self._show_end(result.closed, announce=True)
        else:
            self._refresh_soon(ref)

    async def _remove_stale(self, event: discord.RawReactionActionEvent, previous: int) -> None:
        """A moved vote's old reaction goes, where we may remove other members' reactions."""
        guild = self.client.get_guild(event.guild_id) if event.guild_id else None
        channel = guild.get_channel_or_thread(event.channel_id) if guild else None
        if (
            guild is None
            or channel is None
            or not channel.permissions_for(guild.me).manage_messages
        ):
            return
        try:
            await self._message(event.channel_id, event.message_id).remove_reaction(
                keycap(previous), discord.Object(event.user_id)
            )
        except discord.HTTPException as exc:
            log.info("could not remove a moved vote's old reaction: %s", exc)

    def _refresh_soon(self, ref: str) -> None:
        """Live counts: votes that arrive while an edit waits are shown by that same edit."""
        if ref not in self._queued:
            self._queued.add(ref)
            self._spawn(self._refresh(ref))

    async def _refresh(self, ref: str) -> None:
        async with self._lock("edit", ref):
            self._queued.discard(ref)
            round_ = await self.relay.round_by_message(ref)
            parsed = parse_ref(ref)
            if round_ is None or round_.status != "voting" or parsed is None:
                return
            view = await self.relay.round_view(round_)
            try:
                await self._message(*parsed).edit(content=render.round_message(view))
            except discord.HTTPException as exc:
                log.warning("could not update the counts of round %s: %s", round_.id, exc)

    async def ballots(self, chat: Chat, round_: Round) -> list[Ballot] | None:
        """BallotBox port: the keycap reactions on the round message, the bots' left out."""
        ref = parse_ref(round_.message_ref)
        if ref is None or self.client.is_closed():
            return None
        found = []
        try:
            message = await self.client.get_partial_messageable(ref[0]).fetch_message(ref[1])
            for reaction in message.reactions:
                ordinal = ordinal_of(str(reaction.emoji))
                if ordinal is None:
                    continue
                kinds = [None] + ([discord.ReactionType.burst] if reaction.burst_count else [])
                for kind in kinds:
                    async for user in reaction.users(type=kind):
                        if not user.bot:
                            found.append(Ballot(str(user.id), user.display_name, ordinal))
        except discord.HTTPException as exc:
            log.warning("could not read the reactions of round %s: %s", round_.id, exc)
            return None
        return found

    # -- rounds that end ----------------------------------------------------------------------

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Announcer port: a round closed at its deadline."""
        await self._show_end(result, announce=True)

    async def _show_end(self, result: RoundResult, announce: bool = False) -> None:
        """The round message shows the result; `announce` also posts the winner."""
        ref = parse_ref(result.view.round.message_ref)
        if ref is None or self.client.is_closed():
            log.info("round %s ended without a Discord message to update", result.view.id)
            return
        try:
            async with self._lock("edit", result.view.round.message_ref):
                await self._message(*ref).edit(content=render.round_message(result.view, result))
            if announce:
                channel = self.client.get_partial_messageable(ref[0])
                for piece in render.split(render.announcement(result).text):
                    await channel.send(piece)
        except discord.HTTPException as exc:
            log.warning("could not show the end of round %s: %s", result.view.id, exc)

    # -- helpers ------------------------------------------------------------------------------

    def _message(self, channel_id: int, message_id: int) -> discord.PartialMessage:
        return self.client.get_partial_messageable(channel_id).get_partial_message(message_id)

    def _lock(self, kind: str, ref: str) -> asyncio.Lock:
        return self._locks.setdefault(f"{kind}:{ref}", asyncio.Lock())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Discord background task failed", exc_info=task.exception())


class RelayClient(discord.Client):
    """discord.py's client: default intents (reactions included), no message content, no
    message cache, commands on a tree, and gateway dispatches it cannot read skipped."""

    def __init__(self, platform: DiscordPlatform) -> None:
        intents = discord.Intents.default()
        intents.reactions = True
        intents.message_content = False
        super().__init__(
            intents=intents, max_messages=None, allowed_mentions=discord.AllowedMentions.none()
        )
        self.platform = platform
        self.tree = _Tree(self, allowed_contexts=app_commands.AppCommandContext(guild=True))
        for command in _commands(platform):
            self.tree.add_command(command)
        # A dispatch discord.py cannot parse would otherwise end the connection task.
        self._connection.parsers = _GuardedParsers(self._connection.parsers)

    async def setup_hook(self) -> None:
        await self.platform.sync_commands()

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self.platform.reaction(event)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self.platform.reaction(event)


class _Tree(app_commands.CommandTree[RelayClient]):
    async def on_error(
        self, interaction: discord.Interaction[RelayClient], error: app_commands.AppCommandError
    ) -> None:
        """Unknown commands and bugs: logged, and the member is not left waiting."""
        data: dict[str, Any] = dict(interaction.data or {})
        name = data.get("name", "?")
        quiet = isinstance(error, app_commands.CommandNotFound)
        log.warning("slash command /%s failed: %s", name, error, exc_info=not quiet)
        with contextlib.suppress(discord.HTTPException):
            await _refuse(interaction, render.FAILED)


class _GuardedParsers(dict[str, Callable[[Any], None]]):
    """discord.py's gateway parsers, each logging and skipping a dispatch it cannot read, plus
    a logging one for events it does not know."""

    def __init__(self, parsers: dict[str, Callable[[Any], None]]) -> None:
        super().__init__({event: _guarded(event, parse) for event, parse in parsers.items()})

    def __missing__(self, event: str) -> Callable[[Any], None]:
        return lambda data: log.info("skipped an unknown gateway dispatch %s", event)


def _guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except Exception:  # a malformed dispatch: drop it, keep the connection
            log.warning("skipped a malformed %s dispatch", event, exc_info=True)

    return guarded


def _context(interaction: discord.Interaction, channel_id: int) -> Context:
    user = interaction.user
    title = getattr(interaction.channel, "name", "") or ""
    permissions = interaction.permissions  # the member's, in this channel; checked here, in code
    actor = Actor(
        str(user.id),
        user.display_name,
        is_moderator=permissions.manage_messages or permissions.administrator,
    )
    return Context(ChatKey(PLATFORM, str(channel_id), title), actor, channel_id)


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


# -- the slash commands: the table of design.md --------------------------------------------------

Setting = Literal["temperature", "candidates", "vote_time"]
Command = app_commands.Command[Any, Any, None] | app_commands.Group


def _commands(p: DiscordPlatform) -> list[Command]:
    """Each command: options → one core call → a rendering. Docstrings are the descriptions."""
    relay = p.relay
    story = app_commands.Group(name="story", description="This channel's story")
    round_ = app_commands.Group(name="round", description="The open round of candidates")
    novel = app_commands.Group(name="novel", description="Novels the writer will train on")

    @story.command(name="new")
    @app_commands.describe(title="What the story is called")
    async def story_new(interaction: discord.Interaction, title: str) -> None:
        """Start a story in this channel."""
        await p.answer(
            interaction, lambda c: relay.new_story(c.key, c.actor, title), render.story_started
        )

    @story.command(name="show")
    async def story_show(interaction: discord.Interaction) -> None:
        """The latest lines of the story."""
        await p.answer(interaction, lambda c: relay.show_story(c.key), render.story)

    @story.command(name="export")
    @app_commands.describe(format="txt: the text only; md: with a list of who wrote it")
    async def story_export(
        interaction: discord.Interaction, format: Literal["txt", "md"] = "txt"
    ) -> None:
        """The whole story as a file."""
        await p.answer(
            interaction, lambda c: relay.export_story(c.key, format), render.export, defer=True
        )

    @story.command(name="list")
    async def story_list(interaction: discord.Interaction) -> None:
        """The stories of this channel."""
        await p.answer(interaction, lambda c: relay.list_stories(c.key), render.story_list)

    @story.command(name="end")
    async def story_end(interaction: discord.Interaction) -> None:
        """Close the story (moderators)."""
        await p.answer(interaction, lambda c: relay.end_story(c.key, c.actor), render.story_ended)

    @app_commands.command(name="write")
    @app_commands.describe(text="Your line, as it should appear in the story")
    async def write(interaction: discord.Interaction, text: str) -> None:
        """Add your line to the story."""
        await p.answer(interaction, lambda c: relay.write(c.key, c.actor, text), render.line_added)

    @app_commands.command(name="continue")
    @app_commands.describe(
        keyword="A word the candidates start from or steer to",
        length="About how many characters each candidate has",
    )
    async def continue_(
        interaction: discord.Interaction, keyword: str = "", length: int | None = None
    ) -> None:
        """The writer proposes candidates for the next line; vote with the reactions."""
        await p.answer(
            interaction,
            lambda c: p.continue_story(c, keyword, length),
            render.continued,
            defer=True,
        )

    @round_.command(name="show")
    async def round_show(interaction: discord.Interaction) -> None:
        """The open round: candidates, votes, time left."""
        await p.answer(interaction, lambda c: relay.current_round(c.key), render.round_status)

    @round_.command(name="close")
    async def round_close(interaction: discord.Interaction) -> None:
        """Close the round now; the winner joins the story (moderators)."""
        await p.answer(
            interaction, lambda c: p.close_round(c, cancel=False), render.announcement, defer=True
        )

    @round_.command(name="cancel")
    async def round_cancel(interaction: discord.Interaction) -> None:
        """Drop the round; nothing joins the story (moderators)."""
        await p.answer(interaction, lambda c: p.close_round(c, cancel=True), render.announcement)

    @app_commands.command(name="undo")
    @app_commands.default_permissions(manage_messages=True)
    async def undo(interaction: discord.Interaction) -> None:
        """Remove the last line; it is kept in the history (moderators)."""
        await p.answer(interaction, lambda c: relay.undo(c.key, c.actor), render.line_removed)

    @novel.command(name="add")
    @app_commands.describe(file="A UTF-8 .txt file")
    async def novel_add(interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Add a novel for the writer to train on (moderators)."""
        await p.answer(interaction, lambda c: p.add_novel(c, file), render.novels, defer=True)

    @novel.command(name="list")
    async def novel_list(interaction: discord.Interaction) -> None:
        """The novels queued for training."""
        await p.answer(interaction, lambda c: relay.list_novels(c.key), render.novels)

    @novel.command(name="remove")
    @app_commands.describe(novel_id="The novel's number, as /novel list shows it")
    async def novel_remove(interaction: discord.Interaction, novel_id: int) -> None:
        """Drop a novel from the training list (moderators)."""
        await p.answer(
            interaction, lambda c: relay.remove_novel(c.key, c.actor, novel_id), render.novels
        )

    @app_commands.command(name="train")
    @app_commands.default_permissions(manage_messages=True)
    async def train(interaction: discord.Interaction) -> None:
        """Start a fine-tune of the writer now (moderators)."""

        async def train_now(c: Context) -> Result:  # the core knows /train only as text
            return await p.router.handle(c.key, c.actor, "/train now")

        await p.answer(interaction, train_now, render.notice)

    @app_commands.command(name="model")
    async def model(interaction: discord.Interaction) -> None:
        """The writer's version, when and on what it was trained, its held-out loss."""
        await p.answer(interaction, lambda c: relay.model_info(), render.model)

    @app_commands.command(name="settings")
    @app_commands.describe(
        name="The setting to change; leave out to see them all", value="Its new value (moderators)"
    )
    async def settings(
        interaction: discord.Interaction, name: Setting | None = None, value: str = ""
    ) -> None:
        """Show this channel's settings, or change one (moderators)."""
        await p.answer(
            interaction,
            lambda c: relay.settings(c.key, c.actor, name or "", value),
            render.settings,
        )

    return [story, write, continue_, round_, undo, novel, train, model, settings]
