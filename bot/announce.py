"""Routes news that no command asked for (a round closed at its deadline) to the right platform."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.core.records import Chat
from bot.core.views import RoundResult

log = logging.getLogger(__name__)


class Announcer(Protocol):
    async def round_closed(self, chat: Chat, result: RoundResult) -> None: ...


class Announcers:
    """One announcer per platform name ("console", "telegram", "discord")."""

    def __init__(self) -> None:
        self._by_platform: dict[str, Announcer] = {}

    def register(self, platform: str, announcer: Announcer) -> None:
        self._by_platform[platform] = announcer

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        announcer = self._by_platform.get(chat.platform)
        if announcer is None:
            log.info(
                "round %s of %s closed while that platform is not running",
                result.view.id,
                chat.platform,
            )
            return
        await announcer.round_closed(chat, result)
