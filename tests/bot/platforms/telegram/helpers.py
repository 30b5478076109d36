"""What the Telegram tests share: the members and chats, a running bot (`Setup.bot`, polling or
served a webhook) and the waits and steps the tests take. The `setup` fixture: conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from telegram.ext import AIORateLimiter

from bot.announce import Announcers
from bot.config import NovelsConfig, RelayConfig, TelegramConfig, TrainingConfig
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.core.views import ChatKey
from bot.i18n import languages
from bot.platforms.telegram import TelegramPlatform
from bot.platforms.telegram.round_board import Layout
from storage import Database, SqlStore
from tests.bot.conftest import FakeClock, FakeTimers, FakeTrainer, FakeWriter
from tests.bot.platforms.telegram.fake_bot_api import TOKEN, Call, FakeBotAPI, group, user

ADA = user(10, "Ada", "ada")  # the group's owner
ALICE = user(11, "Alice", "alice")
BOB = user(12, "Bob")
CAROL = user(13, "Carol", "carol")
GROUP = group(-1001234567890, "Writers' room")
OTHER_GROUP = group(-1009876543210, "Elsewhere")
GROUP_KEY = ChatKey("telegram", str(GROUP["id"]), GROUP["title"])
WEBHOOK_URL = "https://relay.test/telegram/updates"  # the load balancer in front of the bots
SECRET = "relaytale_TEST-webhook-secret_42"
Mode = Literal["polling", "webhook"]


@dataclass
class Bot:
    """One running bot: its relay (real SQLite store) and its Telegram adapter."""

    relay: Relay
    store: SqlStore
    platform: TelegramPlatform


@dataclass
class Setup:
    fake: FakeBotAPI
    db_path: Path
    writer: FakeWriter
    clock: FakeClock
    trainer: FakeTrainer
    mode: Mode = "polling"

    @contextlib.asynccontextmanager
    async def bot(
        self,
        timers: FakeTimers | None = None,
        layout: Layout = "message_per_candidate",
        store: Callable[[Database], Any] = SqlStore,
        secret: str | None = SECRET,
        shared_database: bool = False,
        **relay: Any,
    ) -> AsyncIterator[Bot]:
        """Start a bot process on the shared database; stop it on exit. The tests of votes on
        candidates' own messages run in the layout that has them. In webhook mode the process
        serves a port of its own, added to the fake's load balancer while it runs.
        `shared_database`: as if other processes shared the file (PostgreSQL's deployment)."""
        async with Database(self.db_path) as db:
            announcers = Announcers()
            core = Relay(
                store(db),
                self.writer,
                self.clock,
                timers or FakeTimers(),
                RelayConfig(**relay),
                NovelsConfig(min_chars=10),
                announcer=announcers,
                trainer=self.trainer,
                training=TrainingConfig(min_chars=100),
                writers_url=str(self.db_path.parent / "writers"),
                languages=languages(),
                shared_database=shared_database,
            )
            await core.recover()
            config = TelegramConfig(
                base_url=self.fake.base_url,
                base_file_url=self.fake.base_file_url,
                round_layout=layout,
                mode=self.mode,
                webhook_url=WEBHOOK_URL,
                listen="127.0.0.1:0",
            )
            platform = TelegramPlatform(
                CommandRouter(core),
                TOKEN,
                config,
                # Telegram's 20 messages a minute per group would stall a test; retries stay.
                rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3),
                poll_timeout=1,
                webhook_secret=secret if self.mode == "webhook" else None,
            )
            announcers.register("telegram", platform)
            await platform.start()
            served = [platform.webhook.address] if platform.webhook else []
            self.fake.backends.extend(served)
            try:
                yield Bot(core, SqlStore(db), platform)
            finally:
                for address in served:
                    self.fake.backends.remove(address)
                await platform.stop()

    async def say(
        self, sender: dict[str, Any], text: str, chat: dict[str, Any] = GROUP, **extra: Any
    ) -> Call:
        """A member sends a command; returns the bot's first message in answer."""
        mark = len(self.fake.calls)
        self.fake.command(chat, sender, text, **extra)
        return await self.fake.wait_for(
            "sendMessage", lambda c: isinstance(c.result, dict), after=mark
        )

    async def continue_story(
        self, sender: dict[str, Any], text: str = "/continue", chat: dict[str, Any] = GROUP
    ) -> tuple[Call, list[Call]]:
        """/continue; returns the round message and the candidate messages before it."""
        mark = len(self.fake.calls)
        self.fake.command(chat, sender, text)
        round_message = await self.fake.wait_for(
            "sendMessage", lambda c: "reply_markup" in c.params, after=mark
        )
        index = self.fake.calls.index(round_message)
        candidates = [
            c for c in self.fake.sent("sendMessage", mark) if self.fake.calls.index(c) < index
        ]
        return round_message, candidates

    async def tap(
        self, sender: dict[str, Any], round_message: Call, ordinal: int, data: str | None = None
    ) -> str:
        """A member taps a button of the round message; returns the bot's answer."""
        mark = len(self.fake.calls)
        chat_id = round_message.result["chat"]["id"]
        message_id = round_message.result["message_id"]
        markup = self.fake.messages[(chat_id, message_id)]["reply_markup"]
        button = [b for row in markup["inline_keyboard"] for b in row][ordinal - 1]
        query = self.fake.tap(sender, chat_id, message_id, data or button["callback_data"])
        answer = await self.fake.wait_for(
            "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query, after=mark
        )
        return str(answer.params.get("text", ""))

    def buttons(self, round_message: Call) -> list[str]:
        shown = self.fake.messages[(GROUP["id"], round_message.result["message_id"])]
        markup = shown.get("reply_markup") or {"inline_keyboard": []}
        return [b["text"] for row in markup["inline_keyboard"] for b in row]

    async def counts_shown(self, round_message: Call, expected: list[str]) -> None:
        """Wait until the round message's keyboard shows these button texts."""
        await self.fake.wait_for(
            "editMessageReplyMarkup", lambda c: self.buttons(round_message) == expected
        )


async def settle(setup: Setup, bot: Bot) -> None:
    """Wait until every pushed update was fetched and completely handled."""
    app = bot.platform.app
    quiet = 0
    while quiet < 5:
        busy = (
            setup.fake.undelivered()
            or not app.update_queue.empty()
            or app.update_processor.current_concurrent_updates
        )
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.01)


async def story_with_two_lines(setup: Setup) -> None:
    await setup.say(ALICE, "/story new The Lighthouse")
    await setup.say(ALICE, "/write The lamp went dark at midnight.")
    await setup.say(BOB, "/write Nobody on the island slept.")


async def close_at_deadline(setup: Setup, bot: Bot, round_id: int) -> None:
    """What the scheduler does when the deadline passes: close (the core announces it)."""
    setup.clock.t += 10_000
    closed = await bot.relay.close_due(round_id)
    assert closed is not None


def round_id_of(round_message: Call) -> int:
    data = round_message.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return int(data.split(":")[1])
