"""Who moderates a Telegram chat: its administrators (looked up with getChatAdministrators and
cached for `ttl` seconds), an anonymous administrator posting as the group, and the member of a
private chat. The ids in config.toml are added by the core."""

from __future__ import annotations

import logging
import time

from telegram import Bot, Message, User
from telegram import Chat as TgChat
from telegram.constants import ChatType
from telegram.error import TelegramError

log = logging.getLogger(__name__)


class Moderators:
    def __init__(self, bot: Bot, ttl: float = 60.0) -> None:
        self.bot = bot
        self.ttl = ttl
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}

    async def includes(self, chat: TgChat, user: User, message: Message) -> bool:
        """Whether the sender of this message moderates its chat."""
        if chat.type == ChatType.PRIVATE:  # a private chat's story is its member's own
            return True
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous administrator speaks as the group itself
        return user.id in await self._administrators(chat.id)

    async def _administrators(self, chat_id: int) -> frozenset[int]:
        now = time.monotonic()
        cached = self._admins.get(chat_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            members = await self.bot.get_chat_administrators(chat_id)
        except TelegramError:  # e.g. the bot was removed; nobody is an administrator to us
            log.warning("could not read the administrators of chat %s", chat_id, exc_info=True)
            return frozenset()
        ids = frozenset(member.user.id for member in members)
        self._admins[chat_id] = (now + self.ttl, ids)
        return ids
