"""Tests for storage.SqliteStore on real SQLite files: the Store's semantics, races, durability."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from bot.core.ports import Store, StoreConflict
from bot.core.records import ChatSettings, NewCandidate, Round, Story, VoteChange
from storage import Database, NotFound, SqliteStore

T0 = 1_700_000_000.0
WRITER = ("writer", "The Writer")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "relay.db") as database:
        yield database


@pytest.fixture
def store(db: Database) -> Store:
    return SqliteStore(db)  # typed as the Protocol: mypy checks that SqliteStore fits it


async def new_story(store: Store, external_id: str = "c1") -> Story:
    chat = await store.ensure_chat("console", external_id, "Console")
    return await store.create_story(chat.id, "Dragon", "u1", T0)


def cand(text: str, by: str = "u1") -> NewCandidate:
    return NewCandidate(text, -1.0, "", 120, 0.8, 7, by, by.upper())


async def voting_round(store: Store, n: int = 3) -> Round:
    """An open story with a round in voting that has `n` candidates."""
    story = await new_story(store)
    rnd = await store.create_round(story.id, "u1", "U1", T0)
    await store.add_candidates(rnd.id, [cand(f"text {i}") for i in range(1, n + 1)], 9)
    return await store.open_voting(rnd.id, T0 + 60)


async def open_round(store: Store, external_id: str = "c1") -> Round | None:
    """The chat's open round, found as the bot finds it (place_of_chat)."""
    place = await store.place_of_chat("console", external_id)
    return None if place is None else place.round


async def read_round(store: Store, round_id: int) -> Round | None:
    """The round as stored now, read as the bot reads it (round_snapshot)."""
    snapshot = await store.round_snapshot(round_id)
    return None if snapshot is None else snapshot.round


async def conflict(awaitable: Awaitable[object]) -> str:
    """The reason of the StoreConflict the awaitable raises."""
    with pytest.raises(StoreConflict) as info:
        await awaitable
    return info.value.reason


def test_sqlite_store_has_every_store_method_with_the_same_signature() -> None:
    """Each Protocol method exists on SqliteStore with the same parameters (names, kinds)."""
    for name, proto in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_"):
            continue
        impl = getattr(SqliteStore, name)
        assert inspect.iscoroutinefunction(impl), name
        want = [(p.name, p.kind, p.default) for p in inspect.signature(proto).parameters.values()]
        got = [(p.name, p.kind, p.default) for p in inspect.signature(impl).parameters.values()]
        assert got == want, name


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


async def test_lines_last_n_keeps_order_and_undo_keeps_history(store: Store, db: Database) -> None:
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
    removed_at = await db.single_value("SELECT removed_at FROM lines WHERE id = ?", (undone.id,))
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


# -- rounds -----------------------------------------------------------------------------------


async def test_round_lifecycle_generating_voting_and_one_open_per_story(store: Store) -> None:
    """New rounds generate; a second open round is refused; open_voting sets the deadline."""
    story = await new_story(store)
    rnd = await store.create_round(story.id, "u1", "Ann", T0)
    assert (rnd.status, rnd.deadline, rnd.close_reason, rnd.message_ref) == (
        "generating", None, "", ""
    )  # fmt: skip
    assert await open_round(store) == rnd
    assert await conflict(store.create_round(story.id, "u2", "Bob", T0)) == "round_open"
    voting = await store.open_voting(rnd.id, T0 + 60)
    assert (voting.status, voting.deadline) == ("voting", T0 + 60)
    assert await open_round(store) == voting
    assert await conflict(store.create_round(story.id, "u2", "Bob", T0)) == "round_open"
    assert (await store.open_voting(rnd.id, T0 + 90)).deadline == T0 + 90  # moves the deadline

    await store.cancel_round(rnd.id, "moderator", T0 + 1)
    assert await open_round(store) is None
    assert await conflict(store.open_voting(rnd.id, T0 + 60)) == "round_not_open"
    assert (await store.create_round(story.id, "u2", "Bob", T0 + 2)).status == "generating"
    with pytest.raises(NotFound):
        await store.open_voting(9999, T0)


async def test_no_round_on_an_ended_story(store: Store) -> None:
    """create_round on an ended story is refused as no_open_story."""
    story = await new_story(store)
    await store.end_story(story.id, T0)
    assert await conflict(store.create_round(story.id, "u1", "Ann", T0)) == "no_open_story"


async def test_round_message_lookup_and_rounds_with_status(store: Store) -> None:
    """A round is found by its message ref; rounds_with_status lists those in the statuses."""
    voting = await voting_round(store)
    other = await new_story(store, "c2")
    generating = await store.create_round(other.id, "u1", "Ann", T0)
    await store.set_round_message(voting.id, "discord:1:555")
    found = await store.find_round_by_message("discord:1:555")
    assert found is not None and found.id == voting.id
    assert await store.find_round_by_message("discord:1:556") is None
    assert await store.find_round_by_message("") is None

    assert [r.id for r in await store.rounds_with_status(["voting"])] == [voting.id]
    both = await store.rounds_with_status(["generating", "voting"])
    assert [r.id for r in both] == [voting.id, generating.id]
    assert await store.rounds_with_status([]) == []
    await store.cancel_round(generating.id, "moderator", T0)
    assert [r.id for r in await store.rounds_with_status(["cancelled"])] == [generating.id]


# -- candidates -------------------------------------------------------------------------------


async def test_candidates_are_numbered_in_arrival_order_up_to_the_cap(store: Store) -> None:
    """Batches number on from the last ordinal; only what fits is added; then candidates_full."""
    story = await new_story(store)
    rnd = await store.create_round(story.id, "u1", "Ann", T0)
    first = await store.add_candidates(rnd.id, [cand("a"), cand("b"), cand("c")], 5)
    assert [(c.ordinal, c.text) for c in first] == [(1, "a"), (2, "b"), (3, "c")]
    await store.open_voting(rnd.id, T0 + 60)  # voting rounds still take candidates
    second = await store.add_candidates(rnd.id, [cand("d", "u2"), cand("e"), cand("f")], 5)
    assert [(c.ordinal, c.text) for c in second] == [(4, "d"), (5, "e")]
    assert second[0].requested_by == "u2" and second[0].requested_by_name == "U2"
    assert await conflict(store.add_candidates(rnd.id, [cand("g")], 5)) == "candidates_full"
    assert [c.ordinal for c in await store.candidates(rnd.id)] == [1, 2, 3, 4, 5]
    assert await store.candidates(rnd.id) == first + second


async def test_candidates_only_for_open_rounds(store: Store) -> None:
    """A closed, cancelled or missing round takes no candidates."""
    rnd = await voting_round(store)
    await store.close_round(rnd.id, None, "moderator", T0, *WRITER)
    assert await conflict(store.add_candidates(rnd.id, [cand("x")], 9)) == "round_not_open"
    assert await conflict(store.add_candidates(9999, [cand("x")], 9)) == "round_not_open"


# -- votes ------------------------------------------------------------------------------------


async def test_votes_one_per_member_movable_and_removable(store: Store) -> None:
    """A vote is new, then moved, then repeated (no-op), then removed."""
    rnd = await voting_round(store)
    assert await store.cast_vote(rnd.id, "m1", "Mia", 1, T0) == _vc(None, 1)
    assert await store.cast_vote(rnd.id, "m2", "Max", 1, T0 + 1) == _vc(None, 1)
    assert await store.cast_vote(rnd.id, "m1", "Mia", 3, T0 + 2) == _vc(1, 3)
    assert await store.cast_vote(rnd.id, "m1", "Mia", 3, T0 + 3) == _vc(3, 3)
    votes = await store.votes(rnd.id)
    assert sorted((v.member_id, v.ordinal, v.cast_at) for v in votes) == [
        ("m1", 3, T0 + 2),  # the repeated vote changed nothing, not even the time
        ("m2", 1, T0 + 1),
    ]
    assert await store.remove_vote(rnd.id, "m1") == _vc(3, None)
    assert await store.remove_vote(rnd.id, "m1") == _vc(None, None)
    assert [v.member_id for v in await store.votes(rnd.id)] == ["m2"]


def _vc(previous: int | None, current: int | None) -> VoteChange:
    return VoteChange(previous=previous, current=current)


async def test_votes_refused_outside_voting_and_for_missing_candidates(store: Store) -> None:
    """Generating or closed rounds take no votes; ordinal 7 of 3 is no_such_candidate."""
    story = await new_story(store)
    rnd = await store.create_round(story.id, "u1", "Ann", T0)
    await store.add_candidates(rnd.id, [cand("a"), cand("b"), cand("c")], 9)
    assert await conflict(store.cast_vote(rnd.id, "m1", "Mia", 1, T0)) == "round_not_open"
    await store.open_voting(rnd.id, T0 + 60)
    assert await conflict(store.cast_vote(rnd.id, "m1", "Mia", 7, T0)) == "no_such_candidate"
    assert await conflict(store.cast_vote(rnd.id, "m1", "Mia", 0, T0)) == "no_such_candidate"
    await store.cast_vote(rnd.id, "m1", "Mia", 2, T0)
    await store.close_round(rnd.id, None, "moderator", T0, *WRITER)
    assert await conflict(store.cast_vote(rnd.id, "m1", "Mia", 1, T0)) == "round_not_open"
    assert await conflict(store.remove_vote(rnd.id, "m1")) == "round_not_open"
    assert await conflict(store.cast_vote(9999, "m1", "Mia", 1, T0)) == "round_not_open"
    assert [v.ordinal for v in await store.votes(rnd.id)] == [2]  # kept after the close


# -- closing ----------------------------------------------------------------------------------


async def test_close_round_appends_the_winner_as_the_writers_line(store: Store) -> None:
    """The winner's text joins the story as an 'ai' line credited to the writer, with round_id."""
    rnd = await voting_round(store)
    await store.add_line(rnd.story_id, "human", "u1", "Ann", "Once upon a time.", T0)
    winner = (await store.candidates(rnd.id))[1]
    closed = await store.close_round(rnd.id, winner.id, "deadline", T0 + 60, *WRITER)
    assert closed is not None and closed.line is not None
    assert (closed.round.status, closed.round.closed_at, closed.round.close_reason) == (
        "closed", T0 + 60, "deadline"
    )  # fmt: skip
    assert closed.round.winner_candidate_id == winner.id
    line = closed.line
    assert (line.kind, line.author_id, line.author_name, line.text, line.round_id) == (
        "ai", "writer", "The Writer", "text 2", rnd.id
    )  # fmt: skip
    assert line.position == 2
    assert await store.lines(rnd.story_id) == [(await store.lines(rnd.story_id))[0], line]
    assert await read_round(store, rnd.id) == closed.round
    assert await store.close_round(rnd.id, winner.id, "deadline", T0 + 61, *WRITER) is None
    assert await store.cancel_round(rnd.id, "moderator", T0 + 62) is None


async def test_close_round_without_winner_or_on_an_ended_story_adds_no_line(store: Store) -> None:
    """No winner: closed, no line. Ended story: closed with its winner, but no line."""
    rnd = await voting_round(store)
    closed = await store.close_round(rnd.id, None, "no votes", T0, *WRITER)
    assert closed is not None and closed.line is None and closed.round.winner_candidate_id is None

    second = await store.create_round(rnd.story_id, "u1", "Ann", T0)
    [c] = await store.add_candidates(second.id, [cand("late")], 9)
    await store.end_story(rnd.story_id, T0 + 1)
    closed = await store.close_round(second.id, c.id, "moderator", T0 + 2, *WRITER)
    assert closed is not None and closed.line is None
    assert closed.round.winner_candidate_id == c.id
    assert await store.lines(rnd.story_id) == []


async def test_close_round_refuses_a_winner_from_another_round(store: Store) -> None:
    """A winner id that is not this round's candidate is no_such_candidate, and nothing closes."""
    rnd = await voting_round(store)
    stranger = await voting_round_in(store, "c2")
    foreign = (await store.candidates(stranger.id))[0]
    reason = await conflict(store.close_round(rnd.id, foreign.id, "deadline", T0, *WRITER))
    assert reason == "no_such_candidate"
    assert await read_round(store, rnd.id) == rnd


async def voting_round_in(store: Store, external_id: str) -> Round:
    story = await new_story(store, external_id)
    rnd = await store.create_round(story.id, "u1", "U1", T0)
    await store.add_candidates(rnd.id, [cand("elsewhere")], 9)
    return await store.open_voting(rnd.id, T0 + 60)


async def test_cancel_round_drops_an_open_round(store: Store) -> None:
    """An open round becomes cancelled with its reason; a second cancel returns None."""
    rnd = await voting_round(store)
    cancelled = await store.cancel_round(rnd.id, "moderator", T0 + 5)
    assert cancelled is not None
    assert (cancelled.status, cancelled.closed_at, cancelled.close_reason) == (
        "cancelled", T0 + 5, "moderator"
    )  # fmt: skip
    assert await store.cancel_round(rnd.id, "moderator", T0 + 6) is None
    assert await store.close_round(rnd.id, None, "deadline", T0 + 7, *WRITER) is None
    assert await store.cancel_round(9999, "moderator", T0) is None


# -- novels ---------------------------------------------------------------------------------------


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


async def test_fifty_concurrent_votes_and_lines_lose_nothing(store: Store) -> None:
    """50 members voting and 50 lines written at once: every vote and every line is kept."""
    rnd = await voting_round(store, n=3)
    other = await new_story(store, "c2")
    votes = [store.cast_vote(rnd.id, f"m{i}", f"M{i}", i % 3 + 1, T0 + i) for i in range(50)]
    lines = [store.add_line(other.id, "human", f"m{i}", "M", f"l{i}", T0) for i in range(50)]
    await asyncio.gather(*votes, *lines)
    assert len(await store.votes(rnd.id)) == 50
    written = await store.lines(other.id)
    assert sorted(ln.position for ln in written) == list(range(1, 51))
    assert sorted(ln.text for ln in written) == sorted(f"l{i}" for i in range(50))


async def test_two_racing_closers_close_once_and_add_one_line(store: Store) -> None:
    """Two close_round calls at once: exactly one ClosedRound, exactly one new line."""
    rnd = await voting_round(store)
    winner = (await store.candidates(rnd.id))[0]
    results = await asyncio.gather(
        store.close_round(rnd.id, winner.id, "deadline", T0, *WRITER),
        store.close_round(rnd.id, winner.id, "moderator", T0, *WRITER),
    )
    assert sum(r is not None for r in results) == 1
    assert len(await store.lines(rnd.story_id)) == 1


async def test_votes_racing_a_close_are_either_kept_or_refused(store: Store) -> None:
    """Each vote sent while the round closes is kept (before) or refused (after), never lost."""
    rnd = await voting_round(store)
    calls: list[Awaitable[object]] = [
        store.cast_vote(rnd.id, f"m{i}", "M", 1, T0) for i in range(20)
    ]
    calls.insert(10, store.close_round(rnd.id, None, "deadline", T0, *WRITER))
    results = await asyncio.gather(*calls, return_exceptions=True)
    accepted = [r for r in results if r is not None and not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, StoreConflict)]
    assert all(r.reason == "round_not_open" for r in refused)
    assert len(accepted) - 1 + len(refused) == 20  # minus the ClosedRound
    assert len(await store.votes(rnd.id)) == len(accepted) - 1


async def test_store_data_survives_close_and_reopen(tmp_path: Path) -> None:
    """A story, its round, candidates and votes are all there after reopening the file."""
    path = tmp_path / "relay.db"
    async with Database(path) as db:
        store = SqliteStore(db)
        rnd = await voting_round(store)
        await store.cast_vote(rnd.id, "m1", "Mia", 2, T0)
        await store.add_line(rnd.story_id, "human", "u1", "Ann", "kept", T0)
    async with Database(path) as db:
        store = SqliteStore(db)
        assert await open_round(store) == rnd
        assert [v.ordinal for v in await store.votes(rnd.id)] == [2]
        assert len(await store.candidates(rnd.id)) == 3
        assert [ln.text for ln in await store.lines(rnd.story_id)] == ["kept"]


async def test_backup_holds_the_stores_rows(store: Store, db: Database, tmp_path: Path) -> None:
    """A backup opened as a Database shows the same story, lines and votes."""
    rnd = await voting_round(store)
    await store.cast_vote(rnd.id, "m1", "Mia", 3, T0)
    await store.add_line(rnd.story_id, "human", "u1", "Ann", "backed up", T0)
    dest = await db.backup(tmp_path / "backup.db")
    async with Database(dest) as copy_db:
        copy = SqliteStore(copy_db)
        assert await copy.lines(rnd.story_id) == await store.lines(rnd.story_id)
        assert await copy.votes(rnd.id) == await store.votes(rnd.id)
        assert await read_round(copy, rnd.id) == rnd
