"""Processed updates (storage/_deliveries.py) on a real SQLite file: an update delivered twice
is taken once, by one process of several sharing the file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.ports import Store
from storage import Database, SqlStore
from tests.storage.helpers import T0

DAY = 86_400.0


async def test_an_update_is_taken_the_first_time_only(store: Store) -> None:
    """The first delivery is True; the same update again is False; another platform's update
    with the same id is its own."""
    assert await store.first_delivery("telegram", 1000, T0)
    assert not await store.first_delivery("telegram", 1000, T0 + 5)
    assert await store.first_delivery("telegram", 1001, T0 + 5)
    assert await store.first_delivery("discord", 1000, T0 + 5)


async def test_deliveries_are_forgotten_after_a_day(store: Store) -> None:
    """A delivery older than a day no longer counts: the id may then be taken again
    (Telegram retries for at most a day, and reuses ids only after a quiet week)."""
    assert await store.first_delivery("telegram", 7, T0)
    assert not await store.first_delivery("telegram", 7, T0 + DAY - 1)
    assert await store.first_delivery("telegram", 8, T0 + DAY + 1)
    assert await store.first_delivery("telegram", 7, T0 + DAY + 2)
    assert not await store.first_delivery("telegram", 7, T0 + DAY + 3)  # taken anew just now


async def test_the_periodic_job_deletes_only_deliveries_older_than_a_day(store: Store) -> None:
    """forget_deliveries keeps the table small and changes no answer."""
    assert await store.first_delivery("telegram", 1, T0)
    assert await store.first_delivery("telegram", 2, T0 + DAY)
    assert await store.forget_deliveries(T0 + DAY + 1) == 1
    assert await store.forget_deliveries(T0 + DAY + 1) == 0
    assert not await store.first_delivery("telegram", 2, T0 + DAY + 2)
    assert await store.first_delivery("telegram", 1, T0 + DAY + 2)


async def test_two_processes_on_one_file_take_an_update_once(tmp_path: Path) -> None:
    """Two bot processes (two Databases on one file) racing for the same update: one takes
    it."""
    path = tmp_path / "shared.db"
    async with Database(path) as first, Database(path) as second:
        stores = [SqlStore(first), SqlStore(second)] * 3
        taken = await asyncio.gather(*(s.first_delivery("telegram", 42, T0) for s in stores))
    assert sorted(taken) == [False] * 5 + [True]
