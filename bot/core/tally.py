"""Counting votes and picking the winner: pure functions, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from bot.core.records import Candidate, Vote


def vote_counts(votes: Sequence[Vote]) -> Counter[int]:
    """Votes per candidate ordinal."""
    return Counter(v.ordinal for v in votes)


def pick_winner(candidates: Sequence[Candidate], votes: Sequence[Vote],
                no_votes: Literal["skip", "best_score"]) -> Candidate | None:
    """Most votes; ties go to the writer's higher score (mean log-probability), then to the
    earlier candidate. With no votes at all: the best-scored candidate or nobody (a setting)."""
    if not candidates:
        return None
    counts = vote_counts(votes)
    if not counts and no_votes == "skip":
        return None
    return max(candidates, key=lambda c: (counts[c.ordinal], c.mean_logprob, -c.ordinal))
