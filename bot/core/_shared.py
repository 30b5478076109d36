"""What every part of the relay shares: its ports, its rules, and the lookups they all make.

The rules are held here (not copied into each part) so that one change, e.g. a test switching
the quorum on, reaches every part at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import NovelsConfig, RelayConfig, WriterConfig
from bot.core.errors import NotAllowed, RelayError
from bot.core.ports import Announcer, BallotBox, Clock, Store, Timers, Writer
from bot.core.records import Chat, RoundPlace, Story
from bot.core.views import Actor, ChatKey, RoundResult, SettingsView

NO_STORY = "There is no story here yet. Start one with /story new <title>."


class Unannounced:
    """The announcer of a core nobody listens to (tests of the rules alone)."""

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Nobody to tell."""


@dataclass
class Shared:
    store: Store
    writer: Writer
    clock: Clock
    timers: Timers
    announcer: Announcer
    rules: RelayConfig
    policy: WriterConfig
    novels: NovelsConfig
    ballot_boxes: dict[str, BallotBox] = field(default_factory=dict)

    # -- chats and permissions ----------------------------------------------------------------

    async def ensure_chat(self, key: ChatKey) -> Chat:
        """The chat, created on first sight (a write: only for commands that create things)."""
        return await self.store.ensure_chat(key.platform, key.external_id, key.title)

    def is_moderator(self, key: ChatKey, actor: Actor) -> bool:
        return actor.is_moderator or f"{key.platform}:{actor.member_id}" in self.rules.moderators

    def require_moderator(self, key: ChatKey, actor: Actor, what: str) -> None:
        if not self.is_moderator(key, actor):
            raise NotAllowed(f"Only moderators can {what}.")

    # -- where a chat stands (one read) -------------------------------------------------------

    async def place(self, key: ChatKey) -> RoundPlace | None:
        """The chat, its open story and that story's open round; None for a chat never seen."""
        return await self.store.place_of_chat(key.platform, key.external_id)

    async def open_story(self, key: ChatKey) -> tuple[RoundPlace, Story]:
        """Where the chat stands, refusing a chat without an open story."""
        place = await self.place(key)
        if place is None or place.story is None:
            raise RelayError(NO_STORY)
        return place, place.story

    async def effective_settings(self, chat: Chat) -> SettingsView:
        """The chat's /settings overrides over the config.toml defaults."""
        own = await self.store.chat_settings(chat.id)
        rules = self.rules
        return SettingsView(
            settings=own,
            temperature=rules.temperature if own.temperature is None else own.temperature,
            candidates=rules.candidates if own.candidates is None else own.candidates,
            vote_seconds=rules.vote_seconds if own.vote_seconds is None else own.vote_seconds,
        )
