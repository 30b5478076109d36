"""Stories and lines: one open story per chat, credited lines, undo, export."""

from __future__ import annotations

import pytest

from bot.core.errors import RelayError
from tests.bot.conftest import ALICE, BOB, CHAT, MOD, World, start_story


async def test_new_story_refused_while_one_is_open(world: World) -> None:
    """A chat has one story at a time."""
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    with pytest.raises(RelayError, match="already has a story"):
        await world.relay.new_story(CHAT, BOB, "Castle")


async def test_lines_are_credited_in_order(world: World) -> None:
    """/write appends the member's line with their name."""
    await start_story(world)
    view = await world.relay.show_story(CHAT)
    assert [(x.position, x.author_name, x.text) for x in view.lines] == [
        (1, "Alice", "Line 1."),
        (2, "Bob", "Line 2."),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
async def test_empty_line_refused(world: World, text: str) -> None:
    """An empty /write changes nothing."""
    await start_story(world, 0)
    with pytest.raises(RelayError, match="empty"):
        await world.relay.write(CHAT, ALICE, text)
    assert (await world.relay.show_story(CHAT)).total_lines == 0


async def test_line_over_limit_refused(world: World) -> None:
    """A line longer than relay.max_line_chars is refused with the limit named."""
    await start_story(world, 0)
    with pytest.raises(RelayError, match="limit is 600"):
        await world.relay.write(CHAT, ALICE, "x" * 601)
    assert (await world.relay.show_story(CHAT)).total_lines == 0


async def test_undo_keeps_history(world: World) -> None:
    """/undo hides the last line but keeps it in the table; on an empty story it refuses."""
    await start_story(world, 1)
    removed = await world.relay.undo(CHAT, MOD)
    assert removed.text == "Line 1."
    with pytest.raises(RelayError, match="no lines to undo"):
        await world.relay.undo(CHAT, MOD)
    story = await world.relay.show_story(CHAT)
    everything = await world.store.lines(story.story.id, include_removed=True)
    assert [line.removed for line in everything] == [True]


async def test_export_contains_the_whole_story(world: World) -> None:
    """/story export gives every line; markdown credits the authors."""
    await start_story(world, 3)
    txt = await world.relay.export_story(CHAT, "txt")
    assert txt.filename == "Dragon.txt"
    assert txt.content == "Dragon\n\nLine 1.\n\nLine 2.\n\nLine 3.\n"
    md = await world.relay.export_story(CHAT, "md")
    assert md.content.startswith("# Dragon") and "- Alice: 2 lines" in md.content
