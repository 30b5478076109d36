"""bot/platforms/discord/render.py: answers within Discord's 2000 characters, files attached; end
to end and without a server."""

from __future__ import annotations

from bot.platforms.discord import render
from tests.bot.platforms.discord.helpers import ALICE, Guild


async def test_export_is_a_file_and_long_stories_are_split(guild: Guild) -> None:
    """/story export sends a file; /story show over 2000 characters comes in several messages."""
    await guild.fake.answer(ALICE, "story new", title="Long")
    for n in range(6):
        await guild.fake.answer(ALICE, "write", text=f"{n} " + "word " * 110)
    shown = await guild.fake.answer(ALICE, "story show")
    await guild.fake.wait_until(lambda: len(shown.messages()) >= 2)
    assert all(len(m.content) <= 2000 for m in shown.messages())
    exported = await guild.fake.answer(ALICE, "story export", format="md")
    ((name, data),) = exported.messages()[0].files
    assert name == "Long.md" and data.decode().startswith("# Long")


def test_split_keeps_every_piece_within_the_limit() -> None:
    """Long text is cut at line ends or spaces into pieces of at most 2000 characters."""
    text = "\n".join("line " * 60 for _ in range(30)) + " " + "x" * 4500
    pieces = render.split(text)
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
