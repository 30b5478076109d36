"""Moving up (storage/transfer.py, `python -m bot migrate`): a SQLite file with every kind of row
copied into PostgreSQL, where the bot reads exactly what it read before and goes on writing;
a target that holds data is refused with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.ports import Store
from storage import Database, PostgresDatabase, SqlStore, StorageError
from storage.transfer import copy_to_postgres
from tests.postgres_server import PostgresServer, new_database
from tests.storage.helpers import T0, cand, column, stored_votes, verdict, voting_round
from tests.storage.test_writers import chat_with_text, run_to_end

ROOT = Path(__file__).resolve().parents[2]


async def a_bot_in_use(store: Store) -> None:
    """Stories, a round closed with a winner, an open round with votes and a deadline, novels,
    a writer version, the head and training runs."""
    closed = await voting_round(store, external_id="c1")
    winner = (await store.candidates(closed.id))[1]
    await store.cast_vote(closed.id, "m1", "Mia", 2, T0)
    await store.close_round(
        closed.id, verdict(winner.id, "deadline"), T0 + 61, "writer", "The Writer"
    )
    await store.end_story(closed.story_id, T0 + 62)
    open_round = await voting_round(store, external_id="c2")
    await store.cast_vote(open_round.id, "m1", "Mia", 3, T0 + 1)
    await store.cast_vote(open_round.id, "m2", "Max", 1, T0 + 2)
    chat = await chat_with_text(store, "c3")
    lineage = f"chat-{chat.id}"
    await run_to_end(store, lineage, chat.id, promoted=True)
    await store.queue_training(lineage, chat.id, "schedule", "", T0 + 5)


async def what_the_bot_reads(store: Store) -> dict[str, object]:
    """Everything a_bot_in_use wrote, read as the bot reads it."""
    found = {name: await store.find_chat("console", name) for name in ("c1", "c2", "c3")}
    ended, voting, learning = found["c1"], found["c2"], found["c3"]
    assert ended is not None and voting is not None and learning is not None
    place = await store.place_of_chat("console", "c2")
    assert place is not None and place.round is not None
    (ended_story,) = await store.list_stories(ended.id)
    closed = (await store.lines(ended_story.id, include_removed=True))[-1].round_id
    assert closed is not None
    lineage = f"chat-{learning.id}"
    return {
        "open round": place.round,
        "open snapshot": await store.round_snapshot(place.round.id),
        "closed snapshot": await store.round_snapshot(closed),
        "lines": await store.lines(ended_story.id, include_removed=True),
        "novels": await store.novels(learning.id, include_removed=True),
        "head": await store.writer_head(lineage),
        "versions": await store.writer_versions(lineage),
        "runs": await store.training_runs(lineage),
        "voting": await store.rounds_with_status(["voting"]),
        "settings": await store.chat_settings(voting.id),
    }


async def test_everything_moves_and_the_bot_goes_on(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Every table's rows, ids and references arrive; open rounds keep their deadline; new
    rows after the move get new ids."""
    async with Database(tmp_path / "relay.db") as lite:
        await a_bot_in_use(SqlStore(lite))
        before = await what_the_bot_reads(SqlStore(lite))
        async with new_database(postgres_server) as url, PostgresDatabase(url) as pg:
            copied = {c.table: c.rows for c in await copy_to_postgres(lite, pg)}
            store = SqlStore(pg)
            after = await what_the_bot_reads(store)
    assert after == before
    assert copied["votes"] == 3 and copied["writer_versions"] == 1 and copied["rounds"] == 2


async def test_the_bot_goes_on_writing_after_the_move(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Votes in the open round, and new rows with ids after the copied ones."""
    async with Database(tmp_path / "relay.db") as lite:
        await a_bot_in_use(SqlStore(lite))
        async with new_database(postgres_server) as url, PostgresDatabase(url) as pg:
            await copy_to_postgres(lite, pg)
            store = SqlStore(pg)
            place = await store.place_of_chat("console", "c2")
            assert place is not None and place.round is not None
            await store.cast_vote(place.round.id, "m3", "Moe", 2, T0 + 3)
            assert len(await stored_votes(store, place.round.id)) == 3
            fresh = await voting_round(store, external_id="c4")
            assert fresh.id > place.round.id
            await store.add_candidates(fresh.id, [cand("one more")], 9)


def migrate(source: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate", "--from", str(source), "--to", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DISCORD_TOKEN": "", "TELEGRAM_TOKEN": ""},
        timeout=120,
        check=False,
    )


async def test_the_command_moves_into_an_empty_database_and_refuses_a_full_one(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """`python -m bot migrate` prints the rows per table; run again into the now full database
    it exits non-zero and writes nothing."""
    source = tmp_path / "relay.db"
    async with Database(source) as lite:
        await a_bot_in_use(SqlStore(lite))
    async with new_database(postgres_server) as url:
        done = migrate(source, url)
        assert done.returncode == 0, done.stderr
        assert "votes" in done.stdout and "3 rows" in done.stdout and "moved " in done.stdout
        async with PostgresDatabase(url) as pg:
            counted = await column(SqlStore(pg), "SELECT COUNT(*) FROM votes")
        again = migrate(source, url)
        assert again.returncode == 1 and "already holds data" in again.stderr
        assert "nothing was written" in again.stderr
        async with PostgresDatabase(url) as pg:
            assert await column(SqlStore(pg), "SELECT COUNT(*) FROM votes") == counted == 3


async def test_a_target_with_data_is_refused_before_anything_is_written(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    async with Database(tmp_path / "relay.db") as lite:
        await a_bot_in_use(SqlStore(lite))
        async with new_database(postgres_server) as url, PostgresDatabase(url) as pg:
            await SqlStore(pg).ensure_chat("telegram", "1", "already here")
            with pytest.raises(StorageError, match="already holds data"):
                await copy_to_postgres(lite, pg)
            assert await column(SqlStore(pg), "SELECT COUNT(*) FROM stories") == 0
