"""bot/platforms/telegram/members.py end to end: who moderates a group (its administrators, looked
up once a minute); the real python-telegram-bot over HTTP against the fake Bot API server
(fake_bot_api.py), the real relay core and a real SQLite file; only the writer, clock and timers
are fakes (helpers.py, conftest.py)."""

from __future__ import annotations

from tests.bot.platforms.telegram.helpers import (
    ADA,
    ALICE,
    BOB,
    GROUP,
    Setup,
    story_with_two_lines,
)


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
