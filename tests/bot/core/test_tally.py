"""Counting votes, picking the winner and reconciling a platform's ballots: pure functions."""

from __future__ import annotations

from bot.core.records import Ballot, Candidate, Vote
from bot.core.tally import pick_winner, reconcile, vote_counts


def candidate(ordinal: int, score: float = -1.0) -> Candidate:
    return Candidate(ordinal, 1, ordinal, f"text {ordinal}", score, "", 80, 0.8, ordinal, "a", "A")


def vote(member: str, ordinal: int) -> Vote:
    return Vote(1, member, member.title(), ordinal, 0.0)


def test_most_votes_win_and_ties_go_to_the_score_then_the_order() -> None:
    """Votes decide; a tie goes to the writer's higher score, then to the earlier candidate."""
    candidates = [candidate(1, -2.0), candidate(2, -1.0), candidate(3, -1.0)]
    votes = [vote("a", 1), vote("b", 1), vote("c", 2)]
    assert vote_counts(votes) == {1: 2, 2: 1}
    assert pick_winner(candidates, votes, "skip") == candidates[0]
    tied = [vote("a", 2), vote("b", 3)]
    assert pick_winner(candidates, tied, "skip") == candidates[1]


def test_no_votes_skips_or_takes_the_best_score() -> None:
    candidates = [candidate(1, -2.0), candidate(2, -0.5)]
    assert pick_winner(candidates, [], "skip") is None
    assert pick_winner(candidates, [], "best_score") == candidates[1]
    assert pick_winner([], [], "best_score") is None


def test_reconcile_merges_reactions_into_votes() -> None:
    """Unseen reactions become votes, a kept stored vote stands, a vote with no reaction goes."""
    votes = [Vote(1, "a", "A", 2, 0.0), Vote(1, "b", "B", 1, 0.0), Vote(1, "c", "C", 3, 0.0)]
    ballots = [
        Ballot("a", "A", 1),
        Ballot("a", "A", 2),
        Ballot("b", "B", 3),
        Ballot("d", "D", 3),
        Ballot("d", "D", 2),
        Ballot("e", "E", 9),
    ]
    cast, gone = reconcile(votes, ballots, ordinals={1, 2, 3})
    assert cast == [Ballot("b", "B", 3), Ballot("d", "D", 2)]
    assert gone == ["c"]
