"""Routes news to the platform of its chat: the core's Announcer port.

The core announces every end of a round (deadline, moderator, quorum, cancel), every end of
a fine-tune, and a round whose process died before posting it, here; each platform renders
each kind in one place (`round_closed`, `training_finished`, `show_round`). Before closing a
round at its deadline the core asks `takes(chat)`: a chat's rounds are closed by a process
that runs its platform and, where the platform spreads its chats over processes (Discord's
gateway shards), holds that chat.
"""

from __future__ import annotations

import logging

from bot.core.ports import Announcer, HoldsChats, PostsRounds
from bot.core.records import Chat
from bot.core.views import RoundResult, RoundView, TrainingNews

log = logging.getLogger(__name__)


class Announcers:
    """One announcer per platform name ("console", "telegram", "discord")."""

    def __init__(self) -> None:
        self._by_platform: dict[str, Announcer] = {}

    def register(self, platform: str, announcer: Announcer) -> None:
        self._by_platform[platform] = announcer

    def takes(self, chat: Chat) -> bool:
        """HoldsChats: no for a platform this process does not run (its round message and its
        reactions are out of reach here: the round waits for a process that runs it); else the
        platform's answer where it holds only some chats (Discord's shards); else yes."""
        announcer = self._by_platform.get(chat.platform)
        if announcer is None:
            return False
        return not isinstance(announcer, HoldsChats) or announcer.takes(chat)

    def posts_rounds(self, chat: Chat) -> bool:
        """PostsRounds: whether the chat's platform runs here and posts rounds as messages."""
        announcer = self._by_platform.get(chat.platform)
        return isinstance(announcer, PostsRounds) and announcer.posts_rounds(chat)

    async def show_round(self, chat: Chat, view: RoundView) -> None:
        announcer = self._by_platform.get(chat.platform)
        if not isinstance(announcer, PostsRounds):
            return
        try:
            await announcer.show_round(chat, view)
        except Exception:  # its message stays unrecorded: a later sweep posts it again
            log.exception("posting round %s failed", view.id)

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        announcer = self._by_platform.get(chat.platform)
        if announcer is None:
            log.info(
                "round %s of %s ended while that platform is not running",
                result.view.id,
                chat.platform,
            )
            return
        try:
            await announcer.round_closed(chat, result)
        except Exception:  # the round is closed in the store; only its announcement failed
            log.exception("announcing the end of round %s failed", result.view.id)

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        announcer = self._by_platform.get(chat.platform)
        if announcer is None:
            log.info("training run %s ended; %s is not running", news.run.id, chat.platform)
            return
        try:
            await announcer.training_finished(chat, news)
        except Exception:  # the run is recorded in the store; only its announcement failed
            log.exception("announcing the end of training run %s failed", news.run.id)
