"""Chats, stories and lines (storage/_stories.py) on a real SQLite file."""

from __future__ import annotations

import pytest

from bot.core.ports import Store
from bot.core.records import ChatSettings
from storage import NotFound
from tests.storage.helpers import T0, column, conflict, new_story

# -- chats ------------------------------------------------------------------------------------


async def test_ensure_chat_is_idempotent_and_follows_renames(store: Store) -> None:
    """The same platform id gives the same chat; a new title replaces the old, '' does not."""
    first = await store.ensure_chat("discord", "42", "general")
    again = await store.ensure_chat("discord", "42", "story-time")
    blank = await store.ensure_chat("discord", "42", "")
    other = await store.ensure_chat("telegram", "42", "group")
    assert first.id == again.id == blank.id != other.id
    assert again.title == blank.title == "story-time"
    assert await store.get_chat(first.id) == blank
    assert await store.get_chat(9999) is None


async def test_ensure_chat_keeps_the_server_a_platform_gave(store: Store) -> None:
    """A chat's server (a Discord guild) is stored when given; '' keeps it; a chat from before
    anyone gave one (migration 0007) reads '' and takes the first one given."""
    bare = await store.ensure_chat("discord", "42", "general")
    assert bare.server == ""
    placed = await store.ensure_chat("discord", "42", "", server="81384788765712384")
    kept = await store.ensure_chat("discord", "42", "general")
    assert bare.id == placed.id == kept.id
    assert placed.server == kept.server == "81384788765712384"
    assert await store.get_chat(bare.id) == kept
    place = await store.place_of_chat("discord", "42")
    assert place is not None and place.chat == kept


async def test_chat_settings_default_to_none_and_round_trip(store: Store) -> None:
    """Unset overrides read as None; an update replaces all three; None clears one."""
    chat = await store.ensure_chat("console", "c1", "")
    assert await store.chat_settings(chat.id) == ChatSettings()
    await store.update_chat_settings(chat.id, ChatSettings(0.5, 4, 90))
    assert await store.chat_settings(chat.id) == ChatSettings(0.5, 4, 90)
    await store.update_chat_settings(chat.id, ChatSettings(None, 4, None))
    assert await store.chat_settings(chat.id) == ChatSettings(None, 4, None)
    with pytest.raises(NotFound):
        await store.chat_settings(9999)


# -- stories and lines ------------------------------------------------------------------------


async def test_one_open_story_per_chat(store: Store) -> None:
    """A second open story in a chat is refused; after ending the first, a new one is fine."""
    story = await new_story(store)
    assert story.status == "open" and story.created_at == T0
    assert await conflict(store.create_story(story.chat_id, "Again", "u2", T0)) == "story_open"
    other = await new_story(store, "c2")  # another chat is unaffected
    assert other.id != story.id
    ended = await store.end_story(story.id, T0 + 5)
    assert (ended.status, ended.ended_at) == ("ended", T0 + 5)
    assert await store.end_story(story.id, T0 + 9) == ended  # ending twice changes nothing
    assert await store.open_story(story.chat_id) is None
    second = await store.create_story(story.chat_id, "Sequel", "u1", T0 + 10)
    assert await store.open_story(story.chat_id) == second
    assert await store.list_stories(story.chat_id) == [ended, second]
    with pytest.raises(NotFound):
        await store.end_story(9999, T0)


async def test_only_an_open_story_is_renamed(store: Store) -> None:
    """A new title for an open story; an ended story keeps its title."""
    story = await new_story(store)
    renamed = await store.rename_story(story.id, "The Long Night")
    assert renamed.title == "The Long Night" and renamed.id == story.id
    assert await store.open_story(story.chat_id) == renamed
    await store.end_story(story.id, T0 + 5)
    assert await conflict(store.rename_story(story.id, "Too late")) == "no_open_story"


async def test_lines_are_numbered_per_story_and_refused_after_the_end(store: Store) -> None:
    """Positions run 1, 2, 3 in each story; an ended story takes no more lines."""
    a, b = await new_story(store, "a"), await new_story(store, "b")
    for i in range(3):
        line = await store.add_line(a.id, "human", "u1", "Ann", f"a{i}", T0 + i)
        assert line.position == i + 1 and line.story_id == a.id and not line.removed
    assert (await store.add_line(b.id, "human", "u2", "Bob", "b0", T0)).position == 1
    await store.end_story(a.id, T0 + 10)
    assert await conflict(store.add_line(a.id, "human", "u1", "Ann", "late", T0)) == (
        "no_open_story"
    )
    assert await conflict(store.add_line(9999, "human", "u1", "Ann", "x", T0)) == "no_open_story"
    assert [ln.text for ln in await store.lines(a.id)] == ["a0", "a1", "a2"]


async def test_lines_last_n_keeps_order_and_undo_keeps_history(store: Store) -> None:
    """last=N gives the last N in order; undone lines are hidden unless asked for."""
    story = await new_story(store)
    for i in range(1, 6):
        await store.add_line(story.id, "human", "u1", "Ann", f"l{i}", T0 + i)
    assert [ln.text for ln in await store.lines(story.id, last=2)] == ["l4", "l5"]
    assert [ln.text for ln in await store.lines(story.id, last=50)] == [
        f"l{i}" for i in range(1, 6)
    ]
    assert await store.lines(story.id, last=0) == []

    undone = await store.remove_last_line(story.id, T0 + 10)
    assert undone is not None and undone.text == "l5" and undone.removed
    assert [ln.text for ln in await store.lines(story.id, last=2)] == ["l3", "l4"]
    every = await store.lines(story.id, include_removed=True)
    assert [(ln.text, ln.removed) for ln in every][-2:] == [("l4", False), ("l5", True)]
    removed_at = await column(store, "SELECT removed_at FROM lines WHERE id = ?", undone.id)
    assert removed_at == T0 + 10

    # A new line after an undo takes a fresh position: positions are never reused.
    assert (await store.add_line(story.id, "human", "u1", "Ann", "l6", T0)).position == 6


async def test_remove_last_line_returns_none_when_nothing_is_left(store: Store) -> None:
    """Undo on an empty story, or once every line is undone, returns None."""
    story = await new_story(store)
    assert await store.remove_last_line(story.id, T0) is None
    await store.add_line(story.id, "human", "u1", "Ann", "only", T0)
    assert await store.remove_last_line(story.id, T0) is not None
    assert await store.remove_last_line(story.id, T0) is None
    assert await store.lines(story.id) == []
