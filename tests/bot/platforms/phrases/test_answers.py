"""bot/platforms/phrases/answers.py: command answers worded once, the same on every platform, on
views of a real relay."""

from __future__ import annotations

from bot.core.views import LineRemoved
from bot.i18n import translator
from bot.platforms import console_render
from bot.platforms.discord import render as discord_render
from bot.platforms.phrases import QUOTE_CHARS
from bot.platforms.telegram import render as telegram_render
from tests.bot.conftest import CHAT, MOD, World


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
        assert len(quoted) <= QUOTE_CHARS


async def test_a_cp949_novel_is_said_to_be_read_as_korean_in_korean(world: World) -> None:
    """The encoding a novel was read in is worded in the chat's language on every platform."""
    await world.relay.new_story(CHAT, MOD, "호랑이")
    text = "옛날 옛적에 호랑이가 살았다. 호랑이는 곶감을 무서워했다. " * 40
    listing = await world.relay.add_novel(CHAT, MOD, "호랑이.txt", text.encode("cp949"))
    for t, said in ((translator("ko"), "CP949 (한국어)"), (translator("en"), "CP949 (Korean)")):
        assert said in console_render.render(t, listing)
        assert said in telegram_render.render(t, listing)
        assert said in discord_render.reply(t, listing).text
