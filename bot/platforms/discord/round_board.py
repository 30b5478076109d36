"""The message that shows a round on Discord: posted with its keycap reactions, kept live as
members react, read back before the round closes, and ended.

A reaction is a vote (read from raw gateway events: no message cache); taking it back withdraws
the vote. The message's id is the round's message_ref ("dc:<channel>:<message>"), so a reaction
finds its round in the store; and just before a round closes the core reads the reactions back
through `ballots` (its BallotBox port), so votes cast while the bot was offline still count.
A view never replaces a newer one: rounds carry a revision that every change bumps.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any

import discord

from bot.core.errors import RelayError
from bot.core.keycaps import keycap, ordinal_of
from bot.core.records import Ballot, Chat, Round
from bot.core.router import CommandRouter
from bot.core.views import Actor, ChatKey, ContinueResult, RoundResult, RoundView, VoteResult
from bot.i18n import Translator, translator
from bot.platforms.discord import render_round as render
from bot.platforms.discord.render import split

log = logging.getLogger(__name__)

PLATFORM = "discord"
# The channel whose slash command is being answered: the end of a round it causes is told in
# that command's reply rather than posted a second time.
answering: contextvars.ContextVar[int | None] = contextvars.ContextVar("answering", default=None)


def message_ref(channel_id: int, message_id: int) -> str:
    """A round message's id in the store; unique across channels."""
    return f"dc:{channel_id}:{message_id}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    prefix, _, rest = ref.partition(":")
    channel, _, message = rest.partition(":")
    if prefix != "dc" or not channel.isdigit() or not message.isdigit():
        return None
    return int(channel), int(message)


class RoundBoard:
    """Round messages of every channel: the announcer and ballot box for Discord."""

    def __init__(self, client: discord.Client, router: CommandRouter) -> None:
        self.client = client
        self.router = router
        self._locks: dict[str, asyncio.Lock] = {}
        self._latest: dict[str, RoundView] = {}  # the newest view of each live round message
        self._shown: dict[str, int] = {}  # the revision each live round message shows
        self.tasks: set[asyncio.Task[None]] = set()

    # -- a round is posted ----------------------------------------------------------------------

    async def show_round(self, channel_id: int, result: ContinueResult, t: Translator) -> None:
        """The round message: posted with its reactions, or edited to show more candidates."""
        view = result.view
        ref = parse_ref(view.round.message_ref)
        if ref is None:
            channel = self.client.get_partial_messageable(channel_id)
            message: discord.Message | discord.PartialMessage = await channel.send(
                render.round_message(t, view)
            )
            await self.router.set_round_message(view.id, message_ref(channel_id, message.id))
            seeds = [candidate.ordinal for candidate in view.candidates]
        else:
            message = self._message(*ref)
            async with self._lock(view.round.message_ref):
                await message.edit(content=render.round_message(t, view))
            seeds = result.added
        try:
            for ordinal in seeds:
                await message.add_reaction(keycap(ordinal))
        except discord.Forbidden:  # members can still react with the keycaps themselves
            log.warning("no Add Reactions permission in channel %s", channel_id)

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
        key = self.key(event.channel_id, event.guild_id)
        actor = Actor(str(event.user_id), name)
        result: VoteResult | None
        async with self._lock(f"vote:{ref}"):  # one member's add and remove, in order
            round_ = await self.router.round_by_message(ref) or await self._unrecorded(key, ref)
            if round_ is None:  # not a round message
                return
            try:
                result = await self.router.react(key, actor, round_.id, ordinal, added=added)
            except RelayError as exc:
                log.info("reaction on round %s not counted: %s", round_.id, exc)
                return
        if result is None:  # the old reaction of a moved vote
            return
        previous = result.change.previous
        if added and previous is not None and previous != ordinal:
            await self._remove_stale(event, previous)
        if result.closed is None:  # a close (the quorum) was announced with its final counts
            self._refresh_soon(ref, result.view, translator(await self.router.language(key)))

    async def _unrecorded(self, key: ChatKey, ref: str) -> Round | None:
        """The chat's open round, when this message shows it but no process recorded it (its
        poster died between posting and recording): the bot's own message under the round's
        name. It becomes the round's message, as Telegram adopts one on its first tap, so the
        reactions on it count and the sweep does not post the round again."""
        open_round = await self.router.open_round(key)
        parsed = parse_ref(ref)
        if open_round is None or open_round.message_ref or parsed is None:
            return None
        try:
            message = await self._message(*parsed).fetch()
        except discord.HTTPException:
            return None
        if self.client.user is None or message.author.id != self.client.user.id:
            return None
        t = translator(await self.router.language(key))
        if render.round_name(t, open_round.id) not in message.content:
            return None
        if not await self.router.adopt_round_message(open_round.id, ref):
            return None
        return await self.router.round_by_message(ref)

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

    def _refresh_soon(self, ref: str, view: RoundView, t: Translator) -> None:
        """Live counts: votes that arrive while an edit waits are shown by that same edit."""
        known = self._latest.get(ref)
        if known is None or known.revision < view.revision:
            self._latest[ref] = view
            self._spawn(self._refresh(ref, t))

    async def _refresh(self, ref: str, t: Translator) -> None:
        async with self._lock(ref):
            latest = self._latest.get(ref)
            parsed = parse_ref(ref)
            if latest is None or parsed is None:  # the round ended meanwhile
                return
            if latest.revision <= self._shown.get(ref, -1):  # an edit showed it already
                return
            self._shown[ref] = latest.revision
            try:
                await self._message(*parsed).edit(content=render.round_message(t, latest))
            except discord.HTTPException as exc:
                log.warning("could not update the counts of round %s: %s", latest.id, exc)

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
        """Announcer port: a round ended. The round message shows the result; the channel is
        told, unless a slash command in it caused the end (its reply tells)."""
        message = result.view.round.message_ref
        self._latest.pop(message, None)
        self._shown.pop(message, None)
        ref = parse_ref(message)
        if ref is None or self.client.is_closed():
            log.info("round %s ended without a Discord message to update", result.view.id)
            return
        t = translator(await self.router.language(self.key(ref[0])))
        try:
            async with self._lock(message):
                shown = render.round_message(t, result.view, result)
                await self._message(*ref).edit(content=shown)
            if answering.get() != ref[0]:
                channel = self.client.get_partial_messageable(ref[0])
                for piece in split(render.announcement(t, result)):
                    await channel.send(piece)
        except discord.HTTPException as exc:
            log.warning("could not show the end of round %s: %s", result.view.id, exc)

    def key(self, channel_id: int, guild_id: int | None = None) -> ChatKey:
        """A channel as the core knows it, with its guild and, when the client has the guild
        cached, its preferred language."""
        guild = self.client.get_guild(guild_id) if guild_id else None
        if guild is None:
            channel = self.client.get_channel(channel_id)
            guild = getattr(channel, "guild", None)
        locale = str(guild.preferred_locale) if guild is not None else ""
        server = str(guild.id) if guild is not None else str(guild_id or "")
        return ChatKey(PLATFORM, str(channel_id), language=locale, server=server)

    def _message(self, channel_id: int, message_id: int) -> discord.PartialMessage:
        return self.client.get_partial_messageable(channel_id).get_partial_message(message_id)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.task_done)

    def task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Discord background task failed", exc_info=task.exception())
