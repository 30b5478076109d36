"""Rounds, candidates and votes: the store's queries for choosing the writer's next line.

Every state change checks the round's status in the same transaction that writes, so a vote
racing a close, or two closers racing each other, cannot both win: on SQLite every write
transaction is BEGIN IMMEDIATE (one writer); on PostgreSQL a vote and a close each lock the
round's row first (and every other write takes the one writers' lock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.core.ports import CountVotes, StoreConflict
from bot.core.records import (
    OPEN_ROUND_STATUSES,
    Candidate,
    ClosedRound,
    NewCandidate,
    Round,
    RoundStatus,
    VoteChange,
)
from storage._rows import (
    CANDIDATE_COLUMNS,
    ROUND_COLUMNS,
    VOTE_COLUMNS,
    to_candidate,
    to_round,
    to_vote,
)
from storage._sql import SqlDatabase, SqlSession
from storage._stories import insert_line, story_is_open
from storage.errors import NotFound

SQL_GET_ROUND = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE id = ?"
SQL_ACTIVE_ROUND = f"""
SELECT {ROUND_COLUMNS} FROM rounds
WHERE story_id = ? AND status IN ('generating', 'voting') ORDER BY id DESC LIMIT 1
"""
SQL_ROUND_BY_MESSAGE = f"""
SELECT {ROUND_COLUMNS} FROM rounds WHERE message_ref = ? ORDER BY id DESC LIMIT 1
"""
# One placeholder per status asked for: "IN (?, ?)".
SQL_ROUNDS_WITH_STATUS = (
    f"SELECT {ROUND_COLUMNS} FROM rounds WHERE status IN ({{marks}}) ORDER BY id"
)
# Rounds whose vote time is over, oldest deadline first (any process closes them; the close
# itself checks, under the one writer, that the round is still open).
# A round still waiting to be shown is not due: nobody has seen it to vote (it is shown first,
# with a new deadline).
SQL_DUE_ROUNDS = f"""
SELECT {ROUND_COLUMNS} FROM rounds
WHERE status = 'voting' AND deadline <= ? AND NOT (message_ref = '' AND show_by IS NOT NULL)
  AND (deadline, id) > (?, ?)
ORDER BY deadline, id LIMIT ?
"""
# Voting rounds whose message should have been recorded by now.
SQL_UNSHOWN_ROUNDS = f"""
SELECT {ROUND_COLUMNS} FROM rounds
WHERE status = 'voting' AND message_ref = '' AND show_by <= ?
ORDER BY show_by LIMIT ?
"""
# Taking the showing of an unshown round (one process wins): a new show_by and deadline.
SQL_TAKE_SHOWING = f"""
UPDATE rounds
SET show_by = ?1,
    deadline = CASE WHEN deadline > ?2 THEN deadline ELSE CAST(?2 AS DOUBLE PRECISION) END,
    revision = revision + 1
WHERE id = ?3 AND status = 'voting' AND message_ref = '' AND show_by <= ?4
RETURNING {ROUND_COLUMNS}
"""  # (show_by, deadline, round, now)
SQL_INSERT_ROUND = f"""
INSERT INTO rounds (story_id, status, opened_by, opened_by_name, created_at, seeds_used)
VALUES (?, 'generating', ?, ?, ?, ?)
RETURNING {ROUND_COLUMNS}
"""
SQL_RESERVE_SEEDS = """
UPDATE rounds SET seeds_used = seeds_used + ?
WHERE id = ? AND status IN ('generating', 'voting')
RETURNING seeds_used
"""
SQL_BUMP_REVISION = "UPDATE rounds SET revision = revision + 1 WHERE id = ?"
SQL_OPEN_VOTING = f"""
UPDATE rounds SET status = 'voting', deadline = ?, show_by = ? WHERE id = ?
RETURNING {ROUND_COLUMNS}
"""
SQL_SET_MESSAGE = "UPDATE rounds SET message_ref = ?, show_by = NULL WHERE id = ?"
SQL_ADOPT_MESSAGE = """
UPDATE rounds SET message_ref = ?, show_by = NULL
WHERE id = ? AND message_ref = '' AND status = 'voting'
"""
SQL_CLOSE_ROUND = f"""
UPDATE rounds SET status = 'closed', closed_at = ?, close_reason = ?, winner_candidate_id = ?,
    revision = revision + 1
WHERE id = ? AND status IN ('generating', 'voting')
RETURNING {ROUND_COLUMNS}
"""
SQL_CANCEL_ROUND = f"""
UPDATE rounds SET status = 'cancelled', closed_at = ?, close_reason = ?, revision = revision + 1
WHERE id = ? AND status IN ('generating', 'voting')
RETURNING {ROUND_COLUMNS}
"""

SQL_CANDIDATES = f"SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE round_id = ? ORDER BY ordinal"
SQL_CANDIDATE_COUNT = "SELECT COALESCE(MAX(ordinal), 0) FROM candidates WHERE round_id = ?"
SQL_INSERT_CANDIDATE = f"""
INSERT INTO candidates (round_id, ordinal, text, mean_logprob, keyword, length, temperature,
                        seed, requested_by, requested_by_name)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING {CANDIDATE_COLUMNS}
"""
SQL_CANDIDATE_EXISTS = "SELECT 1 FROM candidates WHERE round_id = ? AND ordinal = ?"
SQL_CANDIDATE_TEXTS = "SELECT text FROM candidates WHERE round_id = ?"
SQL_WINNER_TEXT = "SELECT text FROM candidates WHERE id = ? AND round_id = ?"

SQL_VOTES = f"SELECT {VOTE_COLUMNS} FROM votes WHERE round_id = ? ORDER BY cast_at, member_id"
SQL_MEMBER_VOTE = "SELECT ordinal FROM votes WHERE round_id = ? AND member_id = ?"
# A vote's first statement locks its round's row and bumps its revision (undone with the
# transaction when the vote is refused): on PostgreSQL votes run beside other writers, ordered
# only against what changes the same round (its close locks the row too), so what the vote
# reads after this cannot change before it commits. Returns whether the round is voting and
# has the candidate. (round, ordinal)
SQL_LOCK_FOR_VOTE = """
UPDATE rounds SET revision = revision + 1 WHERE id = ?
RETURNING status,
    EXISTS (SELECT 1 FROM candidates WHERE round_id = rounds.id AND ordinal = ?) AS candidate
"""
# The same for taking a vote back (any candidate).
SQL_LOCK_FOR_UNVOTE = "UPDATE rounds SET revision = revision + 1 WHERE id = ? RETURNING status"
# A close's first statement: the round's row locked and its status read (a vote that came
# first has committed; one that comes later waits for the close and is refused).
SQL_LOCK_ROUND_STATE = "UPDATE rounds SET revision = revision WHERE id = ? RETURNING status"
SQL_UPSERT_VOTE = """
INSERT INTO votes (round_id, member_id, member_name, ordinal, cast_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (round_id, member_id) DO UPDATE
    SET member_name = excluded.member_name, ordinal = excluded.ordinal, cast_at = excluded.cast_at
RETURNING ordinal
"""
SQL_DELETE_VOTE = "DELETE FROM votes WHERE round_id = ? AND member_id = ? RETURNING ordinal"


async def _round_status(tx: SqlSession, round_id: int) -> RoundStatus | None:
    row = await tx.fetch_one(SQL_GET_ROUND, (round_id,))
    return None if row is None else to_round(row).status


async def _vote_before(tx: SqlSession, round_id: int, member_id: str, ordinal: int) -> int | None:
    """Lock the round for a vote: the member's vote before this one (None: none), once the
    round is checked to be voting and `ordinal` one of its candidates; StoreConflict otherwise.
    The round's revision goes up with the lock."""
    row = await tx.fetch_one(SQL_LOCK_FOR_VOTE, (round_id, ordinal))
    if row is None or row["status"] != "voting":
        raise StoreConflict("round_not_open")
    if not row["candidate"]:
        raise StoreConflict("no_such_candidate")
    previous = await tx.single_value(SQL_MEMBER_VOTE, (round_id, member_id))
    return None if previous is None else int(previous)


class RoundQueries:
    """Rounds, candidates and votes; mixed into SqlStore."""

    _db: SqlDatabase

    # -- rounds -------------------------------------------------------------------------------

    async def create_round(
        self, story_id: int, opened_by: str, opened_by_name: str, at: float, seeds: int = 0
    ) -> Round:
        """A new round in 'generating' whose first request has reserved `seeds` sampling seeds
        (seeds_used = seeds); StoreConflict("round_open") if one is already open.

        StoreConflict("no_open_story") if the story has ended (or does not exist).
        """
        async with self._db.transaction() as tx:
            if not await story_is_open(tx, story_id):
                raise StoreConflict("no_open_story")
            if await tx.fetch_one(SQL_ACTIVE_ROUND, (story_id,)) is not None:
                raise StoreConflict("round_open")
            row = await tx.inserted(
                SQL_INSERT_ROUND, (story_id, opened_by, opened_by_name, at, seeds)
            )
        return to_round(row)

    async def reserve_seeds(self, round_id: int, count: int) -> int:
        """Take the next `count` sampling seeds of an open round; returns how many earlier
        requests had taken (the offset of this block). StoreConflict("round_not_open")."""
        async with self._db.transaction() as tx:
            used = await tx.single_value(SQL_RESERVE_SEEDS, (count, round_id))
        if used is None:
            raise StoreConflict("round_not_open")
        return int(used) - count

    async def find_round_by_message(self, message_ref: str) -> Round | None:
        """The round posted as this platform message (the newest, should refs ever repeat)."""
        if not message_ref:
            return None
        row = await self._db.fetch_one(SQL_ROUND_BY_MESSAGE, (message_ref,))
        return None if row is None else to_round(row)

    async def rounds_with_status(self, statuses: Sequence[RoundStatus]) -> list[Round]:
        """Rounds in any of `statuses`, oldest first (the scheduler re-arms deadlines from it)."""
        if not statuses:  # "IN ()" is no SQL
            return []
        marks = ", ".join("?" * len(statuses))
        rows = await self._db.fetch_all(SQL_ROUNDS_WITH_STATUS.format(marks=marks), statuses)
        return [to_round(r) for r in rows]

    async def due_rounds(
        self, now: float, limit: int = 100, after: tuple[float, int] | None = None
    ) -> list[Round]:
        """Voting rounds whose deadline has passed, oldest deadline first (then by id); `after`
        a round's (deadline, id): those after it, to read on past rounds left open."""
        since = after or (-math.inf, 0)
        rows = await self._db.fetch_all(SQL_DUE_ROUNDS, (now, *since, limit))
        return [to_round(r) for r in rows]

    async def unshown_rounds(self, now: float, limit: int = 100) -> list[Round]:
        """Voting rounds whose message was due to be recorded by `now` and is not."""
        rows = await self._db.fetch_all(SQL_UNSHOWN_ROUNDS, (now, limit))
        return [to_round(r) for r in rows]

    async def take_showing(
        self, round_id: int, now: float, show_by: float, deadline: float
    ) -> Round | None:
        """Take the posting of an unshown round: its show_by moves to `show_by` (a process that
        dies posting it leaves it to the next) and its deadline to at least `deadline` (nobody
        could vote yet). None if another process took it, or it was shown or closed meanwhile."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_TAKE_SHOWING, (show_by, deadline, round_id, now))
        return None if row is None else to_round(row)

    async def open_voting(
        self, round_id: int, deadline: float, show_by: float | None = None
    ) -> Round:
        """generating -> voting with `deadline`; on a voting round, only moves the deadline.
        `show_by`: the round's message must be recorded by then (see unshown_rounds).

        StoreConflict("round_not_open") if the round is closed or cancelled.
        """
        async with self._db.transaction() as tx:
            status = await _round_status(tx, round_id)
            if status is None:
                raise NotFound(f"round {round_id}")
            if status not in OPEN_ROUND_STATUSES:
                raise StoreConflict("round_not_open")
            row = await tx.inserted(SQL_OPEN_VOTING, (deadline, show_by, round_id))
        return to_round(row)

    async def set_round_message(self, round_id: int, message_ref: str) -> None:
        """Remember the platform's id of the round message (to find the round from a reaction)."""
        if await self._db.execute(SQL_SET_MESSAGE, (message_ref, round_id)) == 0:
            raise NotFound(f"round {round_id}")

    async def adopt_round_message(self, round_id: int, message_ref: str) -> bool:
        """Record where the round is shown if nothing was recorded yet (the process that posted
        it stopped first, or has not got there): whether this ref is now the round's."""
        return await self._db.execute(SQL_ADOPT_MESSAGE, (message_ref, round_id)) == 1

    async def close_round(
        self, round_id: int, count: CountVotes, at: float, writer_id: str, writer_name: str
    ) -> ClosedRound | None:
        """Close an open round on the count of the candidates and votes this transaction reads
        (its first statement locks the round: a vote before it is counted, one after it is
        refused), and append the winner as the writer's line, in one transaction.

        None if the round is not open (already closed, cancelled or missing), so of two closers
        racing only one gets a ClosedRound. No line if there is no winner or the story ended.
        StoreConflict("no_such_candidate") if the winner is not one of this round's candidates.
        """
        async with self._db.transaction() as tx:
            state = await tx.fetch_one(SQL_LOCK_ROUND_STATE, (round_id,))
            if state is None or state["status"] not in OPEN_ROUND_STATUSES:
                return None
            candidates = [to_candidate(r) for r in await tx.fetch_all(SQL_CANDIDATES, (round_id,))]
            votes = [to_vote(r) for r in await tx.fetch_all(SQL_VOTES, (round_id,))]
            winner_candidate_id, reason = count(candidates, votes)
            text: str | None = None
            if winner_candidate_id is not None:
                text = await tx.single_value(SQL_WINNER_TEXT, (winner_candidate_id, round_id))
                if text is None:
                    raise StoreConflict("no_such_candidate")
            row = await tx.inserted(SQL_CLOSE_ROUND, (at, reason, winner_candidate_id, round_id))
            closed = to_round(row)
            line = None
            if text is not None and await story_is_open(tx, closed.story_id):
                line = await insert_line(
                    tx, closed.story_id, "ai", writer_id, writer_name, text, at, round_id
                )
        return ClosedRound(round=closed, line=line)

    async def cancel_round(self, round_id: int, reason: str, at: float) -> Round | None:
        """Open round -> cancelled (no line); None if the round is not open."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_CANCEL_ROUND, (at, reason, round_id))
        return None if row is None else to_round(row)

    # -- candidates ---------------------------------------------------------------------------

    async def add_candidates(
        self, round_id: int, new: Sequence[NewCandidate], max_total: int
    ) -> list[Candidate]:
        """Number `new` on from the round's last ordinal, keeping only as many as fit max_total
        and skipping any text the round already shows (or that `new` repeats): a round never
        shows two identical candidates, even when two /continue race.

        StoreConflict("round_not_open") unless the round is generating or voting;
        StoreConflict("candidates_full") if not one of them fits.
        """
        async with self._db.transaction() as tx:
            status = await _round_status(tx, round_id)
            if status not in OPEN_ROUND_STATUSES:
                raise StoreConflict("round_not_open")
            count = int(await tx.single_value(SQL_CANDIDATE_COUNT, (round_id,)))
            room = max_total - count
            if new and room <= 0:
                raise StoreConflict("candidates_full")
            shown = {row[0] for row in await tx.fetch_all(SQL_CANDIDATE_TEXTS, (round_id,))}
            fresh: list[NewCandidate] = []
            for c in new:
                if c.text not in shown:
                    shown.add(c.text)
                    fresh.append(c)
            added: list[Candidate] = []
            for ordinal, c in enumerate(fresh[: max(room, 0)], start=count + 1):
                row = await tx.inserted(
                    SQL_INSERT_CANDIDATE,
                    (round_id, ordinal, c.text, c.mean_logprob, c.keyword, c.length,
                     c.temperature, c.seed, c.requested_by, c.requested_by_name),
                )  # fmt: skip
                added.append(to_candidate(row))
            if added:
                await tx.execute(SQL_BUMP_REVISION, (round_id,))
        return added

    async def candidates(self, round_id: int) -> list[Candidate]:
        """The round's candidates by ordinal."""
        rows = await self._db.fetch_all(SQL_CANDIDATES, (round_id,))
        return [to_candidate(r) for r in rows]

    # -- votes --------------------------------------------------------------------------------

    async def cast_vote(
        self, round_id: int, member_id: str, member_name: str, ordinal: int, at: float
    ) -> VoteChange:
        """Record or move the member's one vote; the same ordinal again changes nothing.

        StoreConflict("round_not_open") unless voting; ("no_such_candidate") for a bad ordinal.
        """
        async with self._db.transaction(row_locked=True) as tx:
            previous = await _vote_before(tx, round_id, member_id, ordinal)
            if previous != ordinal:
                await tx.fetch_one(
                    SQL_UPSERT_VOTE, (round_id, member_id, member_name, ordinal, at)
                )
        return VoteChange(previous=previous, current=ordinal)

    async def remove_vote(
        self, round_id: int, member_id: str, only_for: int | None = None
    ) -> VoteChange:
        """Withdraw the member's vote (previous=None if there was none). With `only_for`, only
        a vote for that candidate goes (taking back the old reaction of a moved vote must not
        remove the new vote); otherwise nothing changes and current is the vote that stays.

        StoreConflict("round_not_open") unless the round is voting.
        """
        async with self._db.transaction(row_locked=True) as tx:
            if await tx.single_value(SQL_LOCK_FOR_UNVOTE, (round_id,)) != "voting":
                raise StoreConflict("round_not_open")
            previous = await tx.single_value(SQL_MEMBER_VOTE, (round_id, member_id))
            if previous is None or (only_for is not None and previous != only_for):
                return VoteChange(previous=previous, current=previous)
            await tx.fetch_one(SQL_DELETE_VOTE, (round_id, member_id))
        return VoteChange(previous=previous, current=None)

    async def toggle_vote(
        self, round_id: int, member_id: str, member_name: str, ordinal: int, at: float
    ) -> VoteChange:
        """A button tap in one transaction: vote for `ordinal`, or take the vote back if it was
        already there. Refused as cast_vote refuses."""
        async with self._db.transaction(row_locked=True) as tx:
            previous = await _vote_before(tx, round_id, member_id, ordinal)
            if previous == ordinal:
                await tx.fetch_one(SQL_DELETE_VOTE, (round_id, member_id))
                current = None
            else:
                await tx.fetch_one(
                    SQL_UPSERT_VOTE, (round_id, member_id, member_name, ordinal, at)
                )
                current = ordinal
        return VoteChange(previous=previous, current=current)
