"""The whole store (storage/store.py): it fits the Store port, and what it writes is kept through
concurrency (on SQLite and PostgreSQL), a reopen and a backup (SQLite's)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

from bot.core.ports import Store
from storage import Database, SqlStore
from tests.storage.helpers import (
    T0,
    new_story,
    open_round,
    read_round,
    stored_votes,
    voting_round,
)


def test_the_store_has_every_store_method_with_the_same_signature() -> None:
    """Each Protocol method exists on SqlStore with the same parameters (names, kinds), and is
    awaited where the Protocol's is (all but plain questions such as hears_languages)."""
    for name, proto in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_"):
            continue
        impl = getattr(SqlStore, name)
        assert inspect.iscoroutinefunction(impl) == inspect.iscoroutinefunction(proto), name
        want = [(p.name, p.kind, p.default) for p in inspect.signature(proto).parameters.values()]
        got = [(p.name, p.kind, p.default) for p in inspect.signature(impl).parameters.values()]
        assert got == want, name


async def test_fifty_concurrent_votes_and_lines_lose_nothing(store: Store) -> None:
    """50 members voting and 50 lines written at once: every vote and every line is kept."""
    rnd = await voting_round(store, n=3)
    other = await new_story(store, "c2")
    votes = [store.cast_vote(rnd.id, f"m{i}", f"M{i}", i % 3 + 1, T0 + i) for i in range(50)]
    lines = [store.add_line(other.id, "human", f"m{i}", "M", f"l{i}", T0) for i in range(50)]
    await asyncio.gather(*votes, *lines)
    assert len(await stored_votes(store, rnd.id)) == 50
    written = await store.lines(other.id)
    assert sorted(ln.position for ln in written) == list(range(1, 51))
    assert sorted(ln.text for ln in written) == sorted(f"l{i}" for i in range(50))


async def test_store_data_survives_close_and_reopen(tmp_path: Path) -> None:
    """A story, its round, candidates and votes are all there after reopening the file."""
    path = tmp_path / "relay.db"
    async with Database(path) as db:
        store = SqlStore(db)
        rnd = await voting_round(store)
        await store.cast_vote(rnd.id, "m1", "Mia", 2, T0)
        await store.add_line(rnd.story_id, "human", "u1", "Ann", "kept", T0)
    async with Database(path) as db:
        store = SqlStore(db)
        assert await open_round(store) == rnd
        assert [v.ordinal for v in await stored_votes(store, rnd.id)] == [2]
        assert len(await store.candidates(rnd.id)) == 3
        assert [ln.text for ln in await store.lines(rnd.story_id)] == ["kept"]


async def test_backup_holds_the_stores_rows(
    sqlite_store: Store, db: Database, tmp_path: Path
) -> None:
    """A backup opened as a Database shows the same story, lines and votes."""
    store = sqlite_store
    rnd = await voting_round(store)
    await store.cast_vote(rnd.id, "m1", "Mia", 3, T0)
    await store.add_line(rnd.story_id, "human", "u1", "Ann", "backed up", T0)
    dest = await db.backup(tmp_path / "backup.db")
    async with Database(dest) as copy_db:
        copy = SqlStore(copy_db)
        assert await copy.lines(rnd.story_id) == await store.lines(rnd.story_id)
        assert await stored_votes(copy, rnd.id) == await stored_votes(store, rnd.id)
        assert await read_round(copy, rnd.id) == rnd
