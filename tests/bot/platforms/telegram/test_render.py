"""bot/platforms/telegram/render.py end to end: member text escaped in Telegram's HTML, long
answers split at its 4096-character limit; the real python-telegram-bot over HTTP against the fake
Bot API server (fake_bot_api.py), the real relay core and a real SQLite file; only the writer,
clock and timers are fakes (helpers.py, conftest.py)."""

from __future__ import annotations

from tests.bot.platforms.telegram.helpers import ALICE, BOB, GROUP, Setup


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
