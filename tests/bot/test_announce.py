"""bot/announce.py: news goes to its chat's platform; which chats' rounds this process takes."""

from __future__ import annotations

from bot.announce import Announcers
from bot.core.context import Unannounced
from bot.core.records import Chat

DISCORD = Chat(1, "discord", "3000", "general", server="2000")
TELEGRAM = Chat(2, "telegram", "-100", "group")


class Shard(Unannounced):
    """A platform that holds only some chats here (Discord's shards): these servers'."""

    def __init__(self, *servers: str) -> None:
        self.servers = servers

    def takes(self, chat: Chat) -> bool:
        return chat.server in self.servers


def test_a_platform_not_running_here_takes_none_of_its_chats() -> None:
    """Its round message and reactions are out of reach: a process that runs it closes them."""
    announcers = Announcers()
    announcers.register("telegram", Unannounced())
    assert not announcers.takes(DISCORD)
    assert announcers.takes(TELEGRAM)


def test_a_platform_that_holds_some_chats_decides_for_them() -> None:
    """Discord's adapter answers for its chats; a platform without `takes` takes all."""
    announcers = Announcers()
    announcers.register("telegram", Unannounced())
    announcers.register("discord", Shard("2000"))
    assert announcers.takes(DISCORD) and announcers.takes(TELEGRAM)
    announcers.register("discord", Shard("9999"))
    assert not announcers.takes(DISCORD)
