"""The Telegram adapter end to end: the real python-telegram-bot over HTTP against a fake Bot API
server, the real relay core and a real SQLite file; only the writer, clock and timers are fakes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter

from bot.announce import Announcers
from bot.config import NovelsConfig, RelayConfig, TelegramConfig, TrainingConfig
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.core.views import ChatKey
from bot.i18n import languages
from bot.platforms.telegram import RoundMessages, TelegramPlatform
from bot.platforms.telegram.round_board import Layout
from storage import Database, SqliteStore
from tests.bot.conftest import FakeClock, FakeTimers, FakeTrainer, FakeWriter
from tests.bot.counting import CountingStore
from tests.bot.platforms.fake_telegram import (
    TOKEN,
    ApiError,
    Call,
    FakeBotAPI,
    administrator,
    group,
    private,
    user,
)

ADA = user(10, "Ada", "ada")  # the group's owner
ALICE = user(11, "Alice", "alice")
BOB = user(12, "Bob")
CAROL = user(13, "Carol", "carol")
GROUP = group(-1001234567890, "Writers' room")
OTHER_GROUP = group(-1009876543210, "Elsewhere")
GROUP_KEY = ChatKey("telegram", str(GROUP["id"]), GROUP["title"])


@dataclass
class Bot:
    """One running bot: its relay (real SQLite store) and its Telegram adapter."""

    relay: Relay
    store: SqliteStore
    platform: TelegramPlatform


@dataclass
class Setup:
    fake: FakeBotAPI
    db_path: Path
    writer: FakeWriter
    clock: FakeClock
    trainer: FakeTrainer

    @contextlib.asynccontextmanager
    async def bot(
        self,
        timers: FakeTimers | None = None,
        layout: Layout = "message_per_candidate",
        store: Callable[[Database], Any] = SqliteStore,
        **relay: Any,
    ) -> AsyncIterator[Bot]:
        """Start a bot process on the shared database; stop it on exit. The tests of votes on
        candidates' own messages run in the layout that has them."""
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
                writers_dir=str(self.db_path.parent / "writers"),
                languages=languages(),
            )
            await core.recover()
            config = TelegramConfig(
                base_url=self.fake.base_url,
                base_file_url=self.fake.base_file_url,
                round_layout=layout,
            )
            platform = TelegramPlatform(
                CommandRouter(core),
                TOKEN,
                config,
                # Telegram's 20 messages a minute per group would stall a test; retries stay.
                rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3),
                poll_timeout=1,
            )
            announcers.register("telegram", platform)
            await platform.start()
            try:
                yield Bot(core, SqliteStore(db), platform)
            finally:
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


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP["id"]] = [
        administrator(ADA, owner=True),
        administrator({**fake.me, "is_bot": True}),
    ]
    try:
        yield Setup(fake, tmp_path / "relay.db", FakeWriter(), FakeClock(), FakeTrainer())
    finally:
        await fake.close()


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


# -- acceptance ---------------------------------------------------------------------------------


async def test_group_round_from_story_to_winner(setup: Setup) -> None:
    """Lines from two members, /continue, three voters tap (one moves, one takes back), the
    deadline passes: the winner is in the story and the chat, the round message shows it."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE, "/continue storm 120")
        assert len(candidates) == 3
        assert candidates[0].result["text"].startswith("1️⃣ storm candidate")
        assert setup.buttons(round_message) == ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"]

        assert await setup.tap(ALICE, round_message, 1) == "✅ You vote for 1️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 1", "2️⃣ 0", "3️⃣ 0"])
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        assert await setup.tap(CAROL, round_message, 2) == "✅ You vote for 2️⃣."
        assert await setup.tap(ALICE, round_message, 2) == "🔁 Your vote moved from 1️⃣ to 2️⃣."
        assert await setup.tap(BOB, round_message, 2) == "🗑️ Your vote for 2️⃣ is taken back."
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 2", "3️⃣ 0"])

        mark = len(setup.fake.calls)
        await close_at_deadline(setup, bot, round_id_of(round_message))
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == round_message.result["message_id"]
        assert "reply_markup" not in edit.params  # the keyboard is gone
        assert setup.buttons(round_message) == []
        assert "2️⃣ won" in edit.result["text"] and "line 3" in edit.result["text"]

        winner_text = candidates[1].result["text"].splitlines()[0].removeprefix("2️⃣ ")
        assert any(winner_text in text for text in setup.fake.texts(GROUP["id"], mark))
        story = await bot.relay.show_story(GROUP_KEY)
        assert [(line.kind, line.text) for line in story.lines][-1] == ("ai", winner_text)


async def test_round_and_votes_survive_a_restart(setup: Setup) -> None:
    """A new Application on the same database finds the round, its votes and its message, and
    closes it at its deadline."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE)
        round_id = round_id_of(round_message)
        await setup.tap(ALICE, round_message, 1)
        setup.fake.react(BOB, GROUP, candidates[2].result["message_id"], [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 1", "2️⃣ 0", "3️⃣ 1"])
        found = (await bot.store.place_of_round(round_id)).round  # type: ignore[union-attr]
        assert found is not None and found.deadline is not None
        deadline = found.deadline

    timers = FakeTimers()
    async with setup.bot(timers) as bot:
        assert timers.armed == {round_id: deadline}  # re-armed from the database
        assert await setup.tap(CAROL, round_message, 1) == "✅ You vote for 1️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 2", "2️⃣ 0", "3️⃣ 1"])
        setup.clock.t = deadline - 5
        assert await bot.relay.close_due(round_id) is None  # woken early: still open
        mark = len(setup.fake.calls)
        setup.clock.t = deadline
        closed = await bot.relay.close_due(round_id)
        assert closed is not None
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert "1️⃣ won" in edit.result["text"]
        votes = sorted((v.member_id, v.ordinal) for v in await bot.store.votes(round_id))
        assert votes == [("11", 1), ("12", 3), ("13", 1)]


async def test_admin_closes_the_round_early(setup: Setup) -> None:
    """/round close is refused to a member and done for an administrator: the round message
    shows the result and the winner is posted."""
    async with setup.bot():
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await setup.tap(BOB, round_message, 3)
        refusal = await setup.say(ALICE, "/round close")
        assert "Only moderators can close a round" in refusal.result["text"]
        mark = len(setup.fake.calls)
        setup.fake.command(GROUP, ADA, "/round close")
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert "3️⃣ won" in edit.result["text"] and setup.buttons(round_message) == []
        winner = await setup.fake.wait_for("sendMessage", after=mark)
        assert winner.result["text"].startswith("📜 3. ")
        assert len(setup.fake.sent("getChatAdministrators")) == 1  # cached for the minute


async def test_non_admin_novel_add_is_refused(setup: Setup) -> None:
    """A member who is not an administrator cannot add a novel; nothing is downloaded."""
    async with setup.bot():
        mark = len(setup.fake.calls)
        setup.fake.document(
            GROUP, BOB, "novel.txt", b"Once upon a time. " * 100, caption="/novel add"
        )
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert "Only moderators can add novels" in reply.result["text"]
        assert setup.fake.sent("getFile", mark) == []


async def test_admin_two_megabyte_novel_is_accepted(setup: Setup) -> None:
    """An administrator's 2 MB UTF-8 .txt, sent with /novel add as its caption, is queued."""
    unit = "The sea was calm that night. 바다는 고요했다. Ça va.\n".encode()
    data = unit * (2_000_000 // len(unit) + 1)  # a little over 2 MB of UTF-8
    async with setup.bot() as bot:
        mark = len(setup.fake.calls)
        setup.fake.document(GROUP, ADA, "The Calm Sea.txt", data, caption="/novel add")
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert "📚 Novels:" in reply.result["text"] and "The Calm Sea" in reply.result["text"]
        assert setup.fake.sent("download", mark)
        (novel,) = (await bot.relay.list_novels(GROUP_KEY)).novels
        assert novel.chars == len(data.decode("utf-8"))


async def test_novel_add_as_a_reply_to_a_document(setup: Setup) -> None:
    """/novel add sent as a reply to a .txt document takes that document."""
    async with setup.bot():
        document = setup.fake.document(GROUP, ALICE, "Shore.txt", b"Waves and sand. " * 100)
        reply = await setup.say(ADA, "/novel add", reply_to_message=document)
        assert "Shore" in reply.result["text"]


@pytest.mark.parametrize(
    ("name", "data", "size", "expected", "downloads"),
    [
        ("cover.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 200, None, "binary", True),
        ("cover.png", b"\x89PNG\r\n\x1a\n" * 10, None, "must be .txt", False),
        ("huge.txt", b"a" * 100, 21_000_000, "21.0 MB; the limit is 20.0 MB", False),
    ],
    ids=["binary", "not-txt", "oversized"],
)
async def test_unusable_novel_file_is_refused_with_a_reason(
    setup: Setup, name: str, data: bytes, size: int | None, expected: str, downloads: bool
) -> None:
    """A binary, non-.txt or oversized file gets a clear refusal; big ones are not fetched."""
    async with setup.bot():
        mark = len(setup.fake.calls)
        setup.fake.document(GROUP, ADA, name, data, caption="/novel add", size=size)
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert expected in reply.result["text"]
        assert bool(setup.fake.sent("getFile", mark)) == downloads


async def test_malformed_and_unknown_updates_are_skipped(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """An update the library cannot parse, one without a sender and an unknown kind are logged
    and skipped; the next command is answered."""
    async with setup.bot():
        with caplog.at_level(logging.INFO, logger="bot.platforms.telegram"):
            setup.fake.push({"message": "this is not a message"})
            setup.fake.push(
                {
                    "message": {
                        "message_id": 1,
                        "date": 0,
                        "chat": GROUP,
                        "text": "/story show",
                        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                    }
                }
            )
            setup.fake.push({"brand_new_update_kind": {"id": 1}})
            reply = await setup.say(ALICE, "/help")
        assert "/story new" in reply.result["text"]
        assert "skipping an update" in caplog.text
        assert "no message, chat or sender" in caplog.text
        fetched = [
            c
            for c in setup.fake.sent("getUpdates")
            if any(u.get("message") == "this is not a message" for u in c.result)
        ]
        assert len(fetched) == 1  # confirmed once, not fetched again and again


# -- votes: forgery, reactions, more candidates -------------------------------------------------


async def test_button_data_cannot_vote_in_another_round(setup: Setup) -> None:
    """Callback data naming another chat's round, or a button of a replaced round message, is
    refused and changes no vote."""
    async with setup.bot() as bot:
        await setup.say(ADA, "/story new Other", chat=OTHER_GROUP)
        elsewhere, _ = await setup.continue_story(ADA, chat=OTHER_GROUP)
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        forged = f"v:{round_id_of(elsewhere)}:1"
        assert "round is over" in await setup.tap(BOB, round_message, 1, data=forged)
        assert "does nothing" in await setup.tap(BOB, round_message, 1, data="v:1")
        assert await bot.store.votes(round_id_of(round_message)) == []
        assert await bot.store.votes(round_id_of(elsewhere)) == []


async def test_more_candidates_move_the_round_message(setup: Setup) -> None:
    """A second /continue adds candidates 4-6 and posts the round again; the old message loses
    its keyboard and its buttons no longer vote."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        first, _ = await setup.continue_story(ALICE, "/continue storm")
        mark = len(setup.fake.calls)
        second, added = await setup.continue_story(BOB, "/continue castle")
        assert [c.result["text"][:3] for c in added] == ["4️⃣", "5️⃣", "6️⃣"]
        assert len(setup.buttons(second)) == 6
        await setup.fake.wait_for("editMessageText", after=mark)
        assert setup.buttons(first) == []
        setup.fake.messages[(GROUP["id"], first.result["message_id"])]["reply_markup"] = (
            first.params["reply_markup"]
        )  # a client that still shows the old keyboard
        assert "round is over" in await setup.tap(CAROL, first, 1)
        assert await setup.tap(CAROL, second, 5) == "✅ You vote for 5️⃣."
        ref = (await bot.store.place_of_round(round_id_of(second))).round.message_ref  # type: ignore[union-attr]
        posted = RoundMessages.parse(ref)
        assert posted is not None and posted.message_id == second.result["message_id"]
        assert len(posted.candidates) == 6


async def test_thumbs_up_reaction_votes_and_taking_it_back_unvotes(setup: Setup) -> None:
    """👍 on a candidate's message votes for it; removing the 👍 takes the vote back, unless
    the vote has moved on since."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE)
        second = candidates[1].result["message_id"]
        setup.fake.react(CAROL, GROUP, second, [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 1", "3️⃣ 0"])
        setup.fake.react(CAROL, GROUP, second, ["👍"], [])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"])

        setup.fake.react(CAROL, GROUP, second, [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 1", "3️⃣ 0"])
        await setup.tap(CAROL, round_message, 3)
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 1"])
        mark = len(setup.fake.calls)
        setup.fake.react(CAROL, GROUP, second, ["👍"], [])
        setup.fake.react(BOB, GROUP, round_message.result["message_id"], [], ["👍"])
        await settle(setup, bot)
        assert setup.fake.sent("editMessageReplyMarkup", mark) == []
        votes = [
            (v.member_id, v.ordinal) for v in await bot.store.votes(round_id_of(round_message))
        ]
        assert votes == [("13", 3)]
        assert "message_reaction" in (setup.fake.allowed_updates or [])


# -- text, files, limits ------------------------------------------------------------------------


async def test_member_text_is_escaped_and_long_stories_are_split(setup: Setup) -> None:
    """Lines with HTML-like text arrive as written; /story show over 4096 characters comes in
    several messages, each within the limit."""
    async with setup.bot():
        await setup.say(ALICE, "/story new <b>Tags</b> & more")
        for i in range(10):
            await setup.say(BOB, f"/write {i} <i>not italic</i> & {'x' * 560}")
        mark = len(setup.fake.calls)
        setup.fake.command(GROUP, ALICE, "/story show")
        await setup.fake.wait_for(
            "sendMessage", lambda c: "9 <i>not italic</i>" in c.result["text"], after=mark
        )
        texts = setup.fake.texts(GROUP["id"], mark)
        assert len(texts) >= 2 and all(len(t) <= 4096 for t in texts)
        assert "<b>Tags</b> & more" in texts[0]


async def test_export_is_sent_as_a_document(setup: Setup) -> None:
    """/story export uploads the story as a .txt file."""
    async with setup.bot():
        await story_with_two_lines(setup)
        mark = len(setup.fake.calls)
        setup.fake.command(GROUP, BOB, "/story export")
        upload = await setup.fake.wait_for("sendDocument", after=mark)
        name, data = upload.files["document"]
        assert name == "The_Lighthouse.txt"
        assert b"The lamp went dark at midnight." in data


async def test_flood_error_is_waited_out(setup: Setup) -> None:
    """A 429 RetryAfter from Telegram delays the reply instead of dropping it."""
    async with setup.bot():
        setup.fake.failures["sendMessage"] = [
            ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        ]
        reply = await setup.say(ALICE, "/help", chat=private(ALICE))
        assert "/story new" in reply.result["text"]
        first_try = setup.fake.sent("sendMessage")[0]
        assert isinstance(first_try.result, ApiError) and first_try.result.code == 429


async def test_start_registers_the_command_menu(setup: Setup) -> None:
    """set_my_commands lists every command word once; /start answers in a private chat."""
    async with setup.bot():
        assert setup.fake.sent("deleteWebhook")  # polling starts from a clean state
        (menu,) = [c for c in setup.fake.sent("setMyCommands") if "language_code" not in c.params]
        names = [c["command"] for c in menu.params["commands"]]
        assert names[:3] == ["story", "write", "continue"] and len(names) == len(set(names))
        reply = await setup.say(BOB, "/start", chat=private(BOB))
        assert "/continue" in reply.result["text"]


# -- one message per round: the default layout ---------------------------------------------------


async def test_one_message_round_from_continue_to_result(setup: Setup) -> None:
    """By default a round is one message (candidates + live-count buttons): more candidates
    edit it, votes edit its buttons, the end edits it with the result; the winner is posted."""
    async with setup.bot(layout="one_message") as bot:
        await story_with_two_lines(setup)
        mark = len(setup.fake.calls)
        round_message, candidates = await setup.continue_story(ALICE, "/continue storm")
        assert candidates == []  # no message per candidate
        shown = round_message.result["text"]
        assert all(f"storm candidate 101-{i}." in shown for i in range(3))
        assert setup.buttons(round_message) == ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"]

        added = await setup.say(BOB, "/continue castle")
        assert added.result["text"].startswith("➕ Added 4️⃣, 5️⃣, 6️⃣ to round 1")
        message_id = round_message.result["message_id"]
        edited = setup.fake.messages[(GROUP["id"], message_id)]
        assert (
            "castle candidate 107-0." in edited["text"] and len(setup.buttons(round_message)) == 6
        )
        assert len(setup.fake.sent("sendMessage", mark)) == 2  # the round, and the reply

        assert await setup.tap(CAROL, round_message, 5) == "✅ You vote for 5️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0", "4️⃣ 0", "5️⃣ 1", "6️⃣ 0"])
        mark = len(setup.fake.calls)
        await close_at_deadline(setup, bot, round_id_of(round_message))
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == message_id and setup.buttons(round_message) == []
        assert "5️⃣ 🏆 castle candidate 107-1." in edit.result["text"]
        assert "5️⃣ joins the story as line 3" in edit.result["text"]
        winner = await setup.fake.wait_for("sendMessage", after=mark)
        assert winner.result["text"].startswith("📜 3. castle candidate 107-1.")


async def test_one_message_round_fits_telegrams_limit(setup: Setup) -> None:
    """Nine long candidates still make one message within 4096 characters (texts shortened)."""
    setup.writer.repeat = None
    async with setup.bot(layout="one_message", max_length=600, max_candidates=9, candidates=9):
        await story_with_two_lines(setup)
        long_writer = setup.writer
        original = long_writer.generate

        async def long_candidates(request: Any) -> Any:
            found = await original(request)
            return [dataclasses.replace(c, text=c.text + " more" * 120) for c in found]

        long_writer.generate = long_candidates  # type: ignore[method-assign]
        round_message, _ = await setup.continue_story(ALICE, "/continue 600")
        assert len(round_message.result["text"].encode("utf-16-le")) // 2 <= 4096
        assert len(setup.buttons(round_message)) == 9


async def test_a_tap_costs_one_write_transaction(setup: Setup) -> None:
    """A button tap, end to end through python-telegram-bot: a handful of store calls and one
    write (a vote cost ~24 calls and 4 writes before)."""
    stores: list[CountingStore] = []

    def counting(db: Database) -> CountingStore:
        stores.append(CountingStore(db))
        return stores[-1]

    async with setup.bot(layout="one_message", store=counting) as bot:
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])  # the round's message is stored
        cost = stores[0].measure()
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        calls, writes = cost()
        assert calls <= 6 and writes == 1, stores[0].calls


# -- the living writer ---------------------------------------------------------------------------


async def test_train_now_is_announced_and_model_shows_its_picture(setup: Setup) -> None:
    """A CP949 novel, /train now (administrators), the result posted to the group when the
    run ends, and /model answered with the loss curves as a photo; both in the menu."""
    async with setup.bot(layout="one_message") as bot:
        await story_with_two_lines(setup)
        text = "호랑이는 곶감을 무서워했다. 똠방각하는 웃었다.\n" * 20
        mark = len(setup.fake.calls)
        setup.fake.document(GROUP, ADA, "호랑이.txt", text.encode("cp949"), caption="/novel add")
        added = await setup.fake.wait_for("sendMessage", after=mark)
        assert "read as CP949 (Korean)" in added.result["text"]
        refusal = await setup.say(ALICE, "/train now")
        assert "Only moderators can start a fine-tune" in refusal.result["text"]
        queued = await setup.say(ADA, "/train now")
        assert "Fine-tune queued (it starts next)" in queued.result["text"]

        mark = len(setup.fake.calls)
        assert await bot.relay.training.run_next()
        news = await setup.fake.wait_for("sendMessage", after=mark)
        assert news.result["text"].startswith("🧠 The writer learned from")
        assert "Version 1 now writes" in news.result["text"]

        mark = len(setup.fake.calls)
        setup.fake.command(GROUP, BOB, "/model")
        photo = await setup.fake.wait_for("sendPhoto", after=mark)
        assert photo.files["photo"][1].startswith(b"\x89PNG")
        (shown,) = [
            c for c in setup.fake.sent("sendMessage", mark) if "version 1" in c.result["text"]
        ]
        assert "This chat's writer: version 1" in shown.result["text"]
        menus = setup.fake.sent("setMyCommands")
        names = [c["command"] for c in menus[0].params["commands"]]
        assert {"train", "model"} <= set(names)


# -- Korean --------------------------------------------------------------------------------------

MINSU = user(21, "민수", language="ko")


async def test_a_korean_group_gets_korean_replies_and_a_korean_menu(setup: Setup) -> None:
    """The command menu is registered in Korean too; a group whose story a Korean member
    started speaks Korean; a tap is answered in the tapping member's own language."""
    async with setup.bot(layout="one_message"):
        menus = setup.fake.sent("setMyCommands")
        (korean,) = [c for c in menus if c.params.get("language_code") == "ko"]
        assert any("language_code" not in c.params for c in menus)
        descriptions = {c["command"]: c["description"] for c in korean.params["commands"]}
        assert descriptions["write"] == "<text>: 이야기에 내 줄을 더해요"

        started = await setup.say(MINSU, "/story new 용의 잠")
        assert "📖 새 이야기: 용의 잠" in started.result["text"]
        added = await setup.say(MINSU, "/write 용이 깨어났다.")
        assert added.result["text"] == "✍️ 민수님이 1번째 줄을 더했어요."
        round_message, _ = await setup.continue_story(MINSU)
        assert "1번째 투표" in round_message.result["text"]
        assert "약 2분 뒤에 투표가 마감돼요." in round_message.result["text"]
        assert await setup.tap(MINSU, round_message, 1) == "✅ 1️⃣에 투표했어요."
        assert await setup.tap(ALICE, round_message, 2) == "✅ You vote for 2️⃣."
        refusal = await setup.say(ALICE, "/round close")
        assert "투표는 운영자만 마감할 수 있어요." in refusal.result["text"]
