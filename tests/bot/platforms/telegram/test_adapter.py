"""bot/platforms/telegram/adapter.py end to end: updates and commands, errors, the command menu,
flood control, files and photos it sends, the living writer's news, Korean; the real
python-telegram-bot over HTTP against the fake Bot API server (fake_bot_api.py), the real relay
core and a real SQLite file; only the writer, clock and timers are fakes (helpers.py,
conftest.py)."""

from __future__ import annotations

import logging

import pytest

from tests.bot.platforms.telegram.fake_bot_api import ApiError, private, user
from tests.bot.platforms.telegram.helpers import (
    ADA,
    ALICE,
    BOB,
    GROUP,
    SECRET,
    Setup,
    story_with_two_lines,
)


async def test_malformed_and_unknown_updates_are_skipped(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """An update the library cannot parse, one without a sender and an unknown kind are logged
    and skipped; the next command is answered."""
    async with setup.bot():
        with caplog.at_level(logging.INFO, logger="bot.platforms.telegram"):
            unreadable = setup.fake.push({"message": "this is not a message"})
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
        if setup.mode == "polling":
            fetched = [
                c
                for c in setup.fake.sent("getUpdates")
                if any(u.get("message") == "this is not a message" for u in c.result)
            ]
            assert len(fetched) == 1  # confirmed once, not fetched again and again
        else:  # answered 200 at once, not refused (Telegram would retry it again and again)
            sent = [d.status for d in setup.fake.deliveries if d.update_id == unreadable]
            assert sent == [200]


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
        if setup.mode == "polling":
            assert setup.fake.sent("deleteWebhook")  # polling starts from a clean state
        else:
            assert setup.fake.webhook is not None and setup.fake.webhook.secret == SECRET
        (menu,) = [c for c in setup.fake.sent("setMyCommands") if "language_code" not in c.params]
        names = [c["command"] for c in menu.params["commands"]]
        assert names[:3] == ["story", "write", "continue"] and len(names) == len(set(names))
        reply = await setup.say(BOB, "/start", chat=private(BOB))
        assert "/continue" in reply.result["text"]


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
