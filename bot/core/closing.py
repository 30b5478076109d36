"""How rounds end: at their deadline, by a moderator, at the quorum, or cancelled; and what a
restart finds.

Every end goes through `close` or `cancel`, which write it in one transaction (two closers
racing close once) and then tell the platforms through the Announcer port, so each platform
renders the end of a round in one place whatever ended it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.core import tally
from bot.core.context import Context
from bot.core.errors import RelayError
from bot.core.ports import PostsRounds, StoreConflict
from bot.core.records import Ballot, Candidate, Chat, ClosedRound, Round, RoundSnapshot, Vote
from bot.core.views import Actor, ChatKey, RoundResult, RoundView

log = logging.getLogger(__name__)

# Rounds this process closes at once at their deadlines (the scheduler's and the sweep's):
# rounds opened by one batch of the writer fall due together, and a hundred closes at once
# would hold every pooled connection and the event loop while members' votes wait.
CLOSES_AT_ONCE = 8
# Due rounds the sweep reads at a time; it reads again while a full batch closed.
SWEEP_BATCH = 100
# A /continue that writes for longer than the writer's timeout and this has died with its process.
STUCK_MARGIN = 30.0

WRITER_ID = "writer"
WRITER_NAME = "the writer"


class Closing:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._closing_room = asyncio.Semaphore(CLOSES_AT_ONCE)

    # -- commands -----------------------------------------------------------------------------

    async def close_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        """/round close: the winner joins the story now."""
        result = await self.close(await self._open_round(key), "moderator")
        if result is None:
            raise RelayError("That round has already closed.")
        return result

    async def cancel_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        """/round cancel: the round is dropped; nothing joins the story."""
        result = await self.cancel(await self._open_round(key), "cancelled")
        if result is None:
            raise RelayError("That round has already closed.")
        return result

    async def _open_round(self, key: ChatKey) -> Round:
        place, _story = await self.ctx.open_story(key)
        if place.round is None:
            raise RelayError("No round is open to vote in.")
        return place.round

    # -- the two ways a round ends --------------------------------------------------------------

    async def close(self, round_: Round, reason: str) -> RoundResult | None:
        """Count (platform-side votes merged first), close, add the winner as the writer's line,
        announce. None if the round was no longer open."""
        ctx = self.ctx
        chat = await self._reconcile(round_)
        if chat is None:
            return None
        counted = await self._count_and_close(round_.id, reason)
        if counted is None:
            return None
        snapshot, closed = counted
        ctx.timers.disarm(round_.id)
        view = RoundView.of(snapshot, ctx.clock.now(), closed.round)
        won = closed.round.winner_candidate_id
        ordinal = next((c.ordinal for c in snapshot.candidates if c.id == won), None)
        winner_view = next((c for c in view.candidates if c.ordinal == ordinal), None)
        reason = closed.round.close_reason
        result = RoundResult(view=view, winner=winner_view, line=closed.line, reason=reason)
        await ctx.announcer.round_closed(chat, result)
        return result

    async def _count_and_close(
        self, round_id: int, reason: str
    ) -> tuple[RoundSnapshot, ClosedRound] | None:
        """The close, on the count of what the close's own transaction reads (a vote that came
        before it is counted; one after it is refused), and the round as it closed. None if it
        was no longer open."""
        ctx = self.ctx

        def count(
            candidates: Sequence[Candidate], votes: Sequence[Vote]
        ) -> tuple[int | None, str]:
            winner = tally.pick_winner(candidates, votes, ctx.rules.no_votes)
            said = f"{reason}, no votes" if winner is None and candidates and not votes else reason
            return (None if winner is None else winner.id), said

        closed = await ctx.store.close_round(
            round_id, count, ctx.clock.now(), WRITER_ID, WRITER_NAME
        )
        if closed is None:
            return None
        snapshot = await ctx.store.round_snapshot(round_id)  # closed: its votes are final
        assert snapshot is not None  # rounds are never deleted
        return snapshot, closed

    async def cancel(self, round_: Round, reason: str) -> RoundResult | None:
        """Drop an open round; members who saw it voting are told. None if it was not open."""
        ctx = self.ctx
        cancelled = await ctx.store.cancel_round(round_.id, reason, ctx.clock.now())
        if cancelled is None:
            return None
        ctx.timers.disarm(round_.id)
        place = await ctx.store.place_of_round(round_.id)
        snapshot = await ctx.store.round_snapshot(round_.id)
        assert place is not None and snapshot is not None  # rounds are never deleted
        result = RoundResult(
            view=RoundView.of(snapshot, ctx.clock.now()),
            winner=None,
            line=None,
            reason="cancelled",
        )
        if round_.status == "voting":  # a round still being written was never shown
            await ctx.announcer.round_closed(place.chat, result)
        return result

    # -- the scheduler and restarts -------------------------------------------------------------

    async def close_due(self, round_id: int) -> tuple[Chat, RoundResult] | None:
        """The scheduler's wake-up: close the round if it is still open, its time has come and
        this process takes its chat (the end is announced); returns its chat and result, or
        None. At most CLOSES_AT_ONCE run together; the rest wait their turn."""
        async with self._closing_room:
            return await self._close_due(round_id)

    async def _close_due(self, round_id: int) -> tuple[Chat, RoundResult] | None:
        ctx = self.ctx
        place = await ctx.store.place_of_round(round_id)
        round_ = place.round if place else None
        if place is None or round_ is None or round_.status not in ("voting", "generating"):
            return None
        if not ctx.takes(place.chat):  # another process holds the chat (its Discord shard)
            return None
        if round_.unshown:  # posted first, with a new deadline (show_unshown)
            return None
        if round_.deadline is not None and round_.deadline > ctx.clock.now() + 0.5:
            ctx.timers.arm(round_.id, round_.deadline)  # woken early: sleep again
            return None
        result = await self.close(round_, "deadline")
        return None if result is None else (place.chat, result)

    async def recover(self) -> list[tuple[Chat, RoundResult]]:
        """At start-up: rounds a crash left 'generating' are opened for votes for the chat's
        vote time (if they have candidates) or dropped; overdue rounds close now; every other
        voting round's deadline is armed again. Returns the rounds closed now (announced).
        On a shared database only rounds generating for longer than any writer request may
        take are stuck (others are another process's /continue in progress)."""
        ctx = self.ctx
        await self._unstick(every=not ctx.shared_database)
        closed = await self.close_overdue()
        for round_ in await ctx.store.rounds_with_status(["voting"]):
            assert round_.deadline is not None
            ctx.timers.arm(round_.id, round_.deadline)
        return closed

    async def close_overdue(self) -> list[tuple[Chat, RoundResult]]:
        """Rounds past their deadline close now, and rounds stuck 'generating' are settled:
        the sweep every process runs, so that the rounds of a process that died close on time.
        Two processes may both try a round: the store closes it once, and only that close is
        announced. A round whose chat this process does not take (another Discord shard's
        guild) is left to the process that does, however late."""
        ctx = self.ctx
        await self._unstick(every=False)
        await self.show_unshown()
        closed: list[tuple[Chat, RoundResult]] = []
        after: tuple[float, int] | None = None
        while True:  # a dead process's rounds of one writer batch may be hundreds due at once
            due = await ctx.store.due_rounds(ctx.clock.now(), SWEEP_BATCH, after)
            if not due:
                return closed
            # Read on after the last: rounds left open (another shard's) are not read again.
            last = due[-1]
            assert last.deadline is not None  # a voting round has one
            after = (last.deadline, last.id)
            # Several at once (as many as close_due lets): each close waits mostly on its
            # announcement (the platform's API).
            outcomes = await asyncio.gather(*(self.close_due(r.id) for r in due))
            closed += [outcome for outcome in outcomes if outcome is not None]
            if len(due) < SWEEP_BATCH:
                return closed

    async def _unstick(self, every: bool) -> None:
        """Rounds left 'generating' (a crash mid-/continue) open for votes when they have
        candidates, else go; `every` of them, or those older than any writer request lasts."""
        ctx = self.ctx
        now = ctx.clock.now()
        oldest = now - (ctx.policy.timeout_seconds + STUCK_MARGIN)
        for stuck in await ctx.store.rounds_with_status(["generating"]):
            if not every and stuck.created_at > oldest:
                continue
            place = await ctx.store.place_of_round(stuck.id)
            if place is not None and await ctx.store.candidates(stuck.id):
                settings = await ctx.effective_settings(place.chat)
                await ctx.store.open_voting(
                    stuck.id, now + settings.vote_seconds, ctx.show_by(place.chat, now)
                )
            else:
                await ctx.store.cancel_round(stuck.id, "interrupted", now)

    async def show_unshown(self) -> None:
        """Rounds open for votes whose message was never recorded (the process that opened them
        died before posting it) are posted now by one process, with a fresh vote time: nobody
        has seen them. Until then they do not close (see Store.due_rounds)."""
        ctx, announcer = self.ctx, self.ctx.announcer
        if not isinstance(announcer, PostsRounds):  # rounds are shown in the replies opening them
            return
        now = ctx.clock.now()
        for unshown in await ctx.store.unshown_rounds(now):
            place = await ctx.store.place_of_round(unshown.id)
            if place is None or not ctx.takes(place.chat):
                continue
            show_by = ctx.show_by(place.chat, now)
            if show_by is None:  # this process does not run the chat's platform
                continue
            settings = await ctx.effective_settings(place.chat)
            taken = await ctx.store.take_showing(
                unshown.id, now, show_by, now + settings.vote_seconds
            )
            if taken is None:  # another process took it, or it was shown or closed meanwhile
                continue
            assert taken.deadline is not None
            ctx.timers.arm(taken.id, taken.deadline)
            snapshot = await ctx.store.round_snapshot(taken.id)
            assert snapshot is not None  # rounds are never deleted
            log.warning("round %s was never shown (its process stopped): posting it", taken.id)
            await announcer.show_round(place.chat, RoundView.of(snapshot, now))

    # -- votes the platform kept ----------------------------------------------------------------

    async def _reconcile(self, round_: Round) -> Chat | None:
        """Merge the votes a platform keeps on its side (reactions) into the store before the
        count, so that votes cast while the bot was offline count too. Returns the chat."""
        ctx = self.ctx
        place = await ctx.store.place_of_round(round_.id)
        if place is None:
            return None
        chat = place.chat
        box = ctx.ballot_boxes.get(chat.platform)
        if round_.status != "voting" or not round_.message_ref or box is None:
            return chat
        try:
            ballots = await box.ballots(chat, round_)
        except Exception:  # an unreadable platform must not keep the round open: count ours
            log.exception("reading the votes of round %s on %s failed", round_.id, chat.platform)
            return chat
        snapshot = await ctx.store.round_snapshot(round_.id)
        if ballots is None or snapshot is None:
            return chat
        await self._merge(chat, snapshot, ballots)
        return chat

    async def _merge(self, chat: Chat, snapshot: RoundSnapshot, ballots: Sequence[Ballot]) -> None:
        ctx = self.ctx
        round_id = snapshot.round.id
        ordinals = {c.ordinal for c in snapshot.candidates}
        cast, gone = tally.reconcile(snapshot.votes, ballots, ordinals)
        try:
            for ballot in cast:
                await ctx.store.cast_vote(
                    round_id, ballot.member_id, ballot.member_name, ballot.ordinal, ctx.clock.now()
                )
            for member_id in gone:
                await ctx.store.remove_vote(round_id, member_id)
        except StoreConflict:  # another path closed it meanwhile; that count stands
            return
        if cast or gone:
            log.info(
                "round %s: %d vote(s) cast and %d taken back from %s at close",
                round_id,
                len(cast),
                len(gone),
                chat.platform,
            )
