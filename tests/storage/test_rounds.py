"""Rounds, candidates and votes (storage/_rounds.py) on a real SQLite file: the checks that
run in the writing transaction, and calls that race each other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

import pytest

from bot.core.ports import Store, StoreConflict
from bot.core.records import Candidate, Vote, VoteChange
from storage import NotFound
from tests.storage.helpers import (
    T0,
    WRITER,
    cand,
    conflict,
    new_story,
    open_round,
    read_round,
    stored_votes,
    verdict,
    voting_round,
)

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


async def test_an_unshown_round_is_taken_once_and_is_not_due_until_shown(store: Store) -> None:
    """A round opened with a show_by is listed once that time passes without its message; one
    take wins (a new show_by, the deadline never moved earlier); until its message is recorded
    it is not due, however late."""
    story = await new_story(store)
    rnd = await store.create_round(story.id, "u1", "Ann", T0)
    voting = await store.open_voting(rnd.id, T0 + 60, show_by=T0 + 30)
    assert voting.show_by == T0 + 30 and voting.unshown
    assert await store.unshown_rounds(T0 + 29) == []
    assert [r.id for r in await store.unshown_rounds(T0 + 30)] == [rnd.id]
    assert await store.due_rounds(T0 + 1000) == []
    taken = await store.take_showing(rnd.id, T0 + 40, show_by=T0 + 100, deadline=T0 + 160)
    assert taken is not None and (taken.show_by, taken.deadline) == (T0 + 100, T0 + 160)
    assert await store.take_showing(rnd.id, T0 + 40, T0 + 100, T0 + 160) is None  # taken
    assert await store.unshown_rounds(T0 + 99) == []
    again = await store.take_showing(rnd.id, T0 + 100, show_by=T0 + 200, deadline=T0 + 120)
    assert again is not None and again.deadline == T0 + 160  # a later deadline stays
    await store.set_round_message(rnd.id, "somewhere:1")
    shown = await read_round(store, rnd.id)
    assert shown is not None and shown.show_by is None and not shown.unshown
    assert await store.unshown_rounds(T0 + 1000) == []
    assert [r.id for r in await store.due_rounds(T0 + 1000)] == [rnd.id]
    assert await store.take_showing(rnd.id, T0 + 1000, T0 + 1100, T0 + 1200) is None


async def test_due_rounds_are_read_in_deadline_order_and_on_after_a_round(store: Store) -> None:
    """Due rounds come oldest deadline first, ties by id; `after` one of them reads on past it,
    so a reader can page through rounds it leaves open."""
    ids = []
    for n, deadline in enumerate([T0 + 20, T0 + 10, T0 + 10, T0 + 500]):
        story = await new_story(store, f"c{n}")
        rnd = await store.create_round(story.id, "u1", "Ann", T0)
        await store.open_voting(rnd.id, deadline)
        ids.append(rnd.id)
    first = await store.due_rounds(T0 + 100, limit=2)
    assert [r.id for r in first] == [ids[1], ids[2]]
    last = first[-1]
    assert last.deadline is not None
    rest = await store.due_rounds(T0 + 100, limit=2, after=(last.deadline, last.id))
    assert [r.id for r in rest] == [ids[0]]
    assert await store.due_rounds(T0 + 100, after=(T0 + 20, ids[0])) == []


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
    await store.close_round(rnd.id, verdict(None, "moderator"), T0, *WRITER)
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
    votes = await stored_votes(store, rnd.id)
    assert sorted((v.member_id, v.ordinal, v.cast_at) for v in votes) == [
        ("m1", 3, T0 + 2),  # the repeated vote changed nothing, not even the time
        ("m2", 1, T0 + 1),
    ]
    assert await store.remove_vote(rnd.id, "m1") == _vc(3, None)
    assert await store.remove_vote(rnd.id, "m1") == _vc(None, None)
    assert [v.member_id for v in await stored_votes(store, rnd.id)] == ["m2"]


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
    await store.close_round(rnd.id, verdict(None, "moderator"), T0, *WRITER)
    assert await conflict(store.cast_vote(rnd.id, "m1", "Mia", 1, T0)) == "round_not_open"
    assert await conflict(store.remove_vote(rnd.id, "m1")) == "round_not_open"
    assert await conflict(store.cast_vote(9999, "m1", "Mia", 1, T0)) == "round_not_open"
    assert [v.ordinal for v in await stored_votes(store, rnd.id)] == [2]  # kept after the close


# -- closing ----------------------------------------------------------------------------------


async def test_close_round_appends_the_winner_as_the_writers_line(store: Store) -> None:
    """The winner's text joins the story as an 'ai' line credited to the writer, with round_id."""
    rnd = await voting_round(store)
    await store.add_line(rnd.story_id, "human", "u1", "Ann", "Once upon a time.", T0)
    winner = (await store.candidates(rnd.id))[1]
    closed = await store.close_round(rnd.id, verdict(winner.id, "deadline"), T0 + 60, *WRITER)
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
    assert (
        await store.close_round(rnd.id, verdict(winner.id, "deadline"), T0 + 61, *WRITER) is None
    )
    assert await store.cancel_round(rnd.id, "moderator", T0 + 62) is None


async def test_close_round_without_winner_or_on_an_ended_story_adds_no_line(store: Store) -> None:
    """No winner: closed, no line. Ended story: closed with its winner, but no line."""
    rnd = await voting_round(store)
    closed = await store.close_round(rnd.id, verdict(None, "no votes"), T0, *WRITER)
    assert closed is not None and closed.line is None and closed.round.winner_candidate_id is None

    second = await store.create_round(rnd.story_id, "u1", "Ann", T0)
    [c] = await store.add_candidates(second.id, [cand("late")], 9)
    await store.end_story(rnd.story_id, T0 + 1)
    closed = await store.close_round(second.id, verdict(c.id, "moderator"), T0 + 2, *WRITER)
    assert closed is not None and closed.line is None
    assert closed.round.winner_candidate_id == c.id
    assert await store.lines(rnd.story_id) == []


async def test_close_round_refuses_a_winner_from_another_round(store: Store) -> None:
    """A winner id that is not this round's candidate is no_such_candidate, and nothing closes."""
    rnd = await voting_round(store)
    stranger = await voting_round(store, n=1, external_id="c2")
    foreign = (await store.candidates(stranger.id))[0]
    reason = await conflict(
        store.close_round(rnd.id, verdict(foreign.id, "deadline"), T0, *WRITER)
    )
    assert reason == "no_such_candidate"
    assert await read_round(store, rnd.id) == rnd


async def test_cancel_round_drops_an_open_round(store: Store) -> None:
    """An open round becomes cancelled with its reason; a second cancel returns None."""
    rnd = await voting_round(store)
    cancelled = await store.cancel_round(rnd.id, "moderator", T0 + 5)
    assert cancelled is not None
    assert (cancelled.status, cancelled.closed_at, cancelled.close_reason) == (
        "cancelled", T0 + 5, "moderator"
    )  # fmt: skip
    assert await store.cancel_round(rnd.id, "moderator", T0 + 6) is None
    assert await store.close_round(rnd.id, verdict(None, "deadline"), T0 + 7, *WRITER) is None
    assert await store.cancel_round(9999, "moderator", T0) is None


# -- races ------------------------------------------------------------------------------------


async def test_two_racing_closers_close_once_and_add_one_line(store: Store) -> None:
    """Two close_round calls at once: exactly one ClosedRound, exactly one new line."""
    rnd = await voting_round(store)
    winner = (await store.candidates(rnd.id))[0]
    results = await asyncio.gather(
        store.close_round(rnd.id, verdict(winner.id, "deadline"), T0, *WRITER),
        store.close_round(rnd.id, verdict(winner.id, "moderator"), T0, *WRITER),
    )
    assert sum(r is not None for r in results) == 1
    assert len(await store.lines(rnd.story_id)) == 1


async def test_votes_racing_a_close_are_either_kept_or_refused(store: Store) -> None:
    """Each vote sent while the round closes is kept (before) or refused (after), never lost."""
    rnd = await voting_round(store)
    calls: list[Awaitable[object]] = [
        store.cast_vote(rnd.id, f"m{i}", "M", 1, T0) for i in range(20)
    ]
    calls.insert(10, store.close_round(rnd.id, verdict(None, "deadline"), T0, *WRITER))
    results = await asyncio.gather(*calls, return_exceptions=True)
    accepted = [r for r in results if r is not None and not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, StoreConflict)]
    assert all(r.reason == "round_not_open" for r in refused)
    assert len(accepted) - 1 + len(refused) == 20  # minus the ClosedRound
    assert len(await stored_votes(store, rnd.id)) == len(accepted) - 1


async def test_a_round_message_is_adopted_only_while_none_is_recorded(store: Store) -> None:
    """adopt_round_message records a ref only on a voting round without one."""
    voting = await voting_round(store)
    assert await store.adopt_round_message(voting.id, "tg:1:10:")
    assert not await store.adopt_round_message(voting.id, "tg:1:11:")
    found = await store.find_round_by_message("tg:1:10:")
    assert found is not None and found.id == voting.id
    other = await new_story(store, "c2")
    generating = await store.create_round(other.id, "u1", "Ann", T0)
    assert not await store.adopt_round_message(generating.id, "tg:2:10:")


async def test_a_close_counts_the_votes_its_own_transaction_reads(store: Store) -> None:
    """The close decides on the candidates and votes it reads after locking the round: a vote
    stored before it is counted (whatever the closer read earlier), a vote after it refused."""
    rnd = await voting_round(store)
    await store.cast_vote(rnd.id, "m1", "M", 2, T0)
    await store.cast_vote(rnd.id, "m2", "N", 3, T0)
    counted: list[tuple[list[int], list[tuple[str, int]]]] = []

    def count(candidates: Sequence[Candidate], votes: Sequence[Vote]) -> tuple[int | None, str]:
        counted.append(
            ([c.ordinal for c in candidates], [(v.member_id, v.ordinal) for v in votes])
        )
        return candidates[1].id, "deadline"

    closed = await store.close_round(rnd.id, count, T0 + 60, *WRITER)
    assert closed is not None and closed.round.status == "closed"
    assert closed.round.close_reason == "deadline" and closed.line is not None
    assert counted == [([1, 2, 3], [("m1", 2), ("m2", 3)])]
    assert await conflict(store.cast_vote(rnd.id, "m3", "O", 1, T0 + 61)) == "round_not_open"
