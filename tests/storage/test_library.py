"""Novels (storage/_library.py) on a real SQLite file."""

from __future__ import annotations

from bot.core.ports import Store
from tests.storage.helpers import T0, conflict


async def test_novels_refuse_duplicates_per_chat_until_removed(store: Store) -> None:
    """Same sha256 in one chat is a duplicate; in another chat, or after removal, it is not."""
    a = await store.ensure_chat("console", "a", "")
    b = await store.ensure_chat("console", "b", "")
    novel = await store.add_novel(a.id, "Moby", "ab" * 32, "Call me Ishmael.", "u1", T0)
    assert (novel.status, novel.chars, novel.title) == ("queued", 16, "Moby")
    reason = await conflict(store.add_novel(a.id, "Moby 2", "ab" * 32, "x", "u2", T0))
    assert reason == "duplicate"
    await store.add_novel(b.id, "Moby", "ab" * 32, "Call me Ishmael.", "u1", T0)
    assert (await store.training_text(a.id)).texts == [
        (f"novel {novel.id}: Moby", "Call me Ishmael.")
    ]

    assert await store.remove_novel(b.id, novel.id) is None  # not b's novel
    removed = await store.remove_novel(a.id, novel.id)
    assert removed is not None and removed.status == "removed"
    assert await store.remove_novel(a.id, novel.id) is None
    assert await store.novels(a.id) == []
    assert await store.novels(a.id, include_removed=True) == [removed]
    again = await store.add_novel(a.id, "Moby", "ab" * 32, "Call me Ishmael.", "u1", T0 + 1)
    assert [n.id for n in await store.novels(a.id)] == [again.id]
