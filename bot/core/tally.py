"""Counting votes and picking the winner: pure functions, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from typing import Literal

from bot.core.records import Ballot, Candidate, Vote


def vote_counts(votes: Sequence[Vote]) -> Counter[int]:
    """Votes per candidate ordinal."""
    return Counter(v.ordinal for v in votes)


def pick_winner(
    candidates: Sequence[Candidate], votes: Sequence[Vote], no_votes: Literal["skip", "best_score"]
) -> Candidate | None:
    """Most votes; ties go to the writer's higher score (mean log-probability), then to the
    earlier candidate. With no votes at all: the best-scored candidate or nobody (a setting)."""
    if not candidates:
        return None
    counts = vote_counts(votes)
    if not counts and no_votes == "skip":
        return None
    return max(candidates, key=lambda c: (counts[c.ordinal], c.mean_logprob, -c.ordinal))


def reconcile(
    votes: Sequence[Vote], ballots: Sequence[Ballot], ordinals: Collection[int]
) -> tuple[list[Ballot], list[str]]:
    """What a platform's ballots change in the stored votes: (votes to cast or move, members
    whose vote goes). A stored vote still among the member's ballots stands (an old reaction
    the platform kept does not undo a move); a member with ballots but no matching stored vote
    gets the lowest of them (their order is unknown); a stored vote with no ballot left was
    taken back while we were not looking."""
    shown: dict[str, list[Ballot]] = {}
    for ballot in ballots:
        if ballot.ordinal in ordinals:
            shown.setdefault(ballot.member_id, []).append(ballot)
    stored = {v.member_id: v.ordinal for v in votes}
    cast = [
        min(theirs, key=lambda b: b.ordinal)
        for member, theirs in shown.items()
        if stored.get(member) not in {b.ordinal for b in theirs}
    ]
    gone = [member for member in stored if member not in shown]
    return cast, gone
