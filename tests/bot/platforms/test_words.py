"""The words every renderer shares (bot/platforms/_words.py), on views of a real relay."""

from __future__ import annotations

from bot.core.views import LineRemoved
from bot.i18n import translator
from bot.platforms import _words, console_render
from bot.platforms.discord import render as discord_render
from bot.platforms.telegram import render as telegram_render
from tests.bot.conftest import CHAT, MOD, World
from tests.bot.core.test_training import chat_with_text


async def test_model_after_a_rollback_to_the_shipped_writer(world: World) -> None:
    """Rolled back to the shipped writer, /model does not claim that nothing was promoted."""
    t = translator("en")
    await chat_with_text(world)
    assert "no fine-tune promoted yet" in _words.model(t, await world.relay.model(CHAT))[0]
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    rows = _words.model(t, await world.relay.rollback(CHAT, MOD, 0))
    assert rows[:2] == [
        "Rolled back: the shipped writer writes again.",
        "This chat's writer: the shipped writer.",
    ]


async def test_a_removed_long_line_is_quoted_with_an_ellipsis(world: World) -> None:
    """/undo quotes the start of a long line and marks the cut, on every platform."""
    long_line = "The keeper climbed the stairs " * 5
    await world.relay.new_story(CHAT, MOD, "Lighthouse")
    await world.relay.write(CHAT, MOD, long_line)
    removed = LineRemoved(await world.relay.undo(CHAT, MOD))
    t = translator("en")
    said = [
        console_render.render(t, removed),
        telegram_render.render(t, removed),
        discord_render.reply(t, removed).text,
    ]
    for text in said:
        quoted = text.split("“", 1)[1].rstrip("”")
        assert quoted.endswith("…") and long_line.startswith(quoted[:-1])
        assert len(quoted) <= _words.QUOTE_CHARS
