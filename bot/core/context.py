"""What every part of the relay shares: its ports, its rules, and the lookups they all make.

The rules are held here (not copied into each part) so that one change, e.g. a test switching
the quorum on, reaches every part at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import NovelsConfig, RelayConfig, TrainingConfig, WriterConfig
from bot.core.errors import N_, RelayError
from bot.core.ports import (
    Announcer,
    BallotBox,
    Clock,
    HoldsChats,
    PostsRounds,
    Store,
    Timers,
    Writer,
)
from bot.core.records import Chat, RoundPlace, Story, WriterVersion
from bot.core.views import Actor, ChatKey, RoundResult, SettingsView, TrainingNews

# How long a round's message may take to be posted and recorded after the round opens; past it
# with none recorded, the process that opened it is taken to have died and another posts it.
# Posting is one or two API calls, but Telegram's and Discord's rate limits can hold them.
SHOW_GRACE = 60.0
# How many rounds' chats a process remembers (a few bytes each; the oldest are forgotten first).
ROUND_OWNERS_KEPT = 10_000

NO_STORY = N_("There is no story here yet. Start one with /story new <title>.")


class Unannounced:
    """The announcer of a core nobody listens to (tests of the rules alone)."""

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Nobody to tell."""

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        """Nobody to tell."""


@dataclass
class Context:
    store: Store
    writer: Writer
    clock: Clock
    timers: Timers
    announcer: Announcer
    rules: RelayConfig
    policy: WriterConfig
    novels: NovelsConfig
    training: TrainingConfig
    languages: tuple[str, ...] = ("en",)  # the languages the bot speaks (its catalogues)
    # Several bot processes share the database (PostgreSQL): what one finds unfinished may be
    # another's work in progress, so only what has gone silent is taken over.
    shared_database: bool = False
    ballot_boxes: dict[str, BallotBox] = field(default_factory=dict)
    # Each chat's language as last read, by (platform, chat, platform's language): (chat id,
    # language). Kept and served only while the store hears every change of a language (other
    # processes' too); `_language_news` counts forgettings, so that a read that raced one is
    # not kept.
    _languages: dict[tuple[str, str, str], tuple[int, str]] = field(default_factory=dict)
    _language_news: int = 0
    # The chat of each round seen lately: a round never changes chats, and a tap names its
    # round after the platform has read the chat's open round, so checking that the round is
    # the chat's costs no second read.
    _round_owners: dict[int, tuple[str, str]] = field(default_factory=dict)

    # -- chats and permissions ----------------------------------------------------------------

    async def ensure_chat(self, key: ChatKey) -> Chat:
        """The chat, created on first sight (a write: only for commands that create things)."""
        return await self.store.ensure_chat(key.platform, key.external_id, key.title, key.server)

    def takes(self, chat: Chat) -> bool:
        """Whether this process closes and announces the chat's rounds at their deadline (see
        HoldsChats): an announcer that holds only some chats says; any other holds them all."""
        announcer = self.announcer
        return not isinstance(announcer, HoldsChats) or announcer.takes(chat)

    def show_by(self, chat: Chat, now: float) -> float | None:
        """When a round of the chat opened for votes `now` must have its message recorded by,
        where its platform posts it after the store opens it (see PostsRounds); else None."""
        announcer = self.announcer
        if isinstance(announcer, PostsRounds) and announcer.posts_rounds(chat):
            return now + SHOW_GRACE
        return None

    def is_moderator(self, key: ChatKey, actor: Actor) -> bool:
        """The platform's word (a Discord permission, a Telegram administrator) or config.toml's
        list of moderators."""
        return actor.is_moderator or f"{key.platform}:{actor.member_id}" in self.rules.moderators

    # -- where a chat stands (one read) -------------------------------------------------------

    async def place(self, key: ChatKey) -> RoundPlace | None:
        """The chat, its open story and that story's open round; None for a chat never seen."""
        place = await self.store.place_of_chat(key.platform, key.external_id)
        if place is not None:
            self.remember_round(place)
        return place

    def remember_round(self, place: RoundPlace) -> None:
        """Note whose round the place's round is (see owns_round)."""
        if place.round is None:
            return
        owners = self._round_owners
        if len(owners) >= ROUND_OWNERS_KEPT and place.round.id not in owners:
            del owners[next(iter(owners))]  # the oldest noted
        owners[place.round.id] = (place.chat.platform, place.chat.external_id)

    def owns_round(self, key: ChatKey, round_id: int) -> bool:
        """Whether the round is known, without a read, to be one of the chat's."""
        return self._round_owners.get(round_id) == (key.platform, key.external_id)

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
            language=self.spoken(own.language) or rules.language,
        )

    # -- what the bot speaks --------------------------------------------------------------------

    def spoken(self, code: str | None) -> str | None:
        """A language code ("ko", "ko-KR", "en_US") as one the bot speaks, or None."""
        short = (code or "").replace("_", "-").split("-")[0].lower()
        return short if short in self.languages else None

    async def language(self, key: ChatKey) -> str:
        """The chat's language: its /settings set language (the starter's, when the story began),
        else the platform's idea of the chat (a server's locale), else relay.language."""
        where = (key.platform, key.external_id, key.language)
        trusted = self.store.hears_languages()
        cached = self._languages.get(where) if trusted else None
        if cached is not None:
            return cached[1]
        news = self._language_news
        chat = await self.store.find_chat(key.platform, key.external_id)
        own = await self.store.chat_settings(chat.id) if chat else None
        chosen = (
            self.spoken(own.language if own else None)
            or self.spoken(key.language)
            or self.rules.language
        )
        if chat is not None and trusted and news == self._language_news:
            self._languages[where] = (chat.id, chosen)
        return chosen

    async def watch_languages(self) -> None:
        """Hear the changes of chats' languages other processes make (before the first
        command: until then, and whenever the store does not hear them, nothing is cached)."""
        await self.store.watch_languages(self.language_changed)

    def language_changed(self, chat_id: int | None) -> None:
        """A chat's language changed, through this process or another (None: any chat's may
        have)."""
        self._language_news += 1
        if chat_id is None:
            self._languages.clear()
            return
        for where in [k for k, (cached_id, _) in self._languages.items() if cached_id == chat_id]:
            del self._languages[where]

    # -- whose writer writes ------------------------------------------------------------------

    def lineage(self, chat: Chat) -> str:
        """The chat's writer lineage: its own, or the one every chat shares."""
        return "shared" if self.training.shared_writer else f"chat-{chat.id}"

    def scope(self, chat: Chat) -> int | None:
        """Whose text the chat's writer learns: the chat's own, or every chat's (None)."""
        return None if self.training.shared_writer else chat.id

    async def writer_head(self, chat: Chat) -> WriterVersion | None:
        """The version that writes for the chat; None: the shipped base (copy on write)."""
        return await self.store.writer_head(self.lineage(chat))
