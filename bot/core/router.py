"""The one way into the core: every member action — a typed command, a slash command with its
options, a tap on a vote button, a reaction put on or taken off — enters here with its Actor.

The router checks who may do it against the command table (a moderators' command refuses a
member with the table's sentence), runs it as one core call, and says which language to answer
in. Platforms hold only the router; they never reach past it into the core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from bot.core.errors import N_, NotAllowed, RelayError
from bot.core.handlers import Call, Result, Upload
from bot.core.ports import BallotBox, StoreUnavailable
from bot.core.records import Round
from bot.core.registry import Command, named
from bot.core.relay import Relay
from bot.core.text_commands import parse
from bot.core.views import Actor, ChatKey, RoundView, VoteResult

__all__ = ["CommandRouter", "Result", "Upload"]

_VOTE = named("vote")[0]  # taps and reactions are votes: the rights of /vote


class CommandRouter:
    """Runs any member action as one core call, after checking the actor's rights."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    # -- commands -------------------------------------------------------------------------------

    async def handle(
        self, key: ChatKey, actor: Actor, text: str, upload: Upload | None = None
    ) -> Result:
        """A text command, as the console and Telegram receive it."""
        command, args = parse(text)
        return await self.run(command, key, actor, args, upload)

    async def run(
        self,
        command: Command,
        key: ChatKey,
        actor: Actor,
        args: Mapping[str, Any] | None = None,
        upload: Upload | None = None,
    ) -> Result:
        """A command with its arguments already typed (Discord's options)."""
        self._check_rights(command, key, actor)
        async with _database_answers():
            return await command.run(self.relay, Call(key, actor, dict(args or {}), upload))

    # -- votes that are not typed ---------------------------------------------------------------

    async def tap(self, key: ChatKey, actor: Actor, round_id: int, ordinal: int) -> VoteResult:
        """A vote button: vote for it, or take the vote back when it was already there."""
        self._check_rights(_VOTE, key, actor)
        async with _database_answers():
            return await self.relay.toggle_vote(key, actor, ordinal, round_id)

    async def react(
        self, key: ChatKey, actor: Actor, round_id: int, ordinal: int, *, added: bool
    ) -> VoteResult | None:
        """A reaction on a candidate put on (a vote) or taken off (the vote goes if it is still
        for that candidate; None when nothing changed)."""
        self._check_rights(_VOTE, key, actor)
        async with _database_answers():
            if added:
                return await self.relay.vote(key, actor, ordinal, round_id)
            return await self.relay.withdraw_vote(key, actor, ordinal, round_id)

    # -- what platforms look up -----------------------------------------------------------------

    async def language(self, key: ChatKey, member: Actor | None = None) -> str:
        """The language to answer in: the member's own for an answer only they see (when the
        platform tells it and the bot speaks it), else the chat's."""
        own = self.relay.spoken(member.language) if member is not None else None
        return own or await self.relay.language(key)

    async def open_round(self, key: ChatKey) -> Round | None:
        """The chat's open round (what a tap or a reaction may be on)."""
        return await self.relay.open_round(key)

    async def newer_view(self, round_id: int, shown: int) -> RoundView | None:
        """After a platform showed a round's revision `shown`: the view to show instead, if
        another process changed the round meanwhile (None: what it showed stands)."""
        return await self.relay.newer_view(round_id, shown)

    async def round_by_message(self, message_ref: str) -> Round | None:
        """The round a platform message shows."""
        return await self.relay.round_by_message(message_ref)

    async def set_round_message(self, round_id: int, message_ref: str) -> None:
        """Where the platform shows a round, so taps and reactions find it after a restart."""
        await self.relay.set_round_message(round_id, message_ref)

    async def adopt_round_message(self, round_id: int, message_ref: str) -> bool:
        """A message that shows the open round, when none was recorded: whether it now is."""
        return await self.relay.adopt_round_message(round_id, message_ref)

    async def first_delivery(self, platform: str, delivery_id: int) -> bool:
        """Whether this update is new to every process of the bot: a platform that may deliver
        one twice (Telegram's webhook retries) hands on only a first delivery."""
        return await self.relay.first_delivery(platform, delivery_id)

    def add_ballot_box(self, platform: str, box: BallotBox) -> None:
        """A platform whose votes also live on its side (Discord's reactions): the core reads
        them before each of its rounds closes."""
        self.relay.add_ballot_box(platform, box)

    def _check_rights(self, command: Command, key: ChatKey, actor: Actor) -> None:
        # The platform's word (a permission, an administrator) or config.toml's list decides.
        if command.moderators_only and not self.relay.is_moderator(key, actor):
            raise NotAllowed(command.moderators_only)


STORE_UNAVAILABLE = N_(
    "The story's database is not answering right now; nothing was lost. "
    "Please try again in a moment."
)


@asynccontextmanager
async def _database_answers() -> AsyncIterator[None]:
    """A database that did not answer is told to the member as "try again" (the command did not
    happen; what was acknowledged before stays)."""
    try:
        yield
    except StoreUnavailable as exc:
        raise RelayError(STORE_UNAVAILABLE) from exc
