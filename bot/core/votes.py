"""Votes: one per member per round, movable and removable, only while the round is voting.

Every way to vote (/vote, a button tap, a reaction) costs one read to find the round, one write
transaction, and one read for the view the platform shows: the result carries what the adapter
renders, so it needs no lookups of its own.
"""

from __future__ import annotations

from bot.core.closing import Closing
from bot.core.context import NO_STORY, Context
from bot.core.errors import RelayError
from bot.core.ports import StoreConflict
from bot.core.records import Round, VoteChange
from bot.core.views import Actor, ChatKey, RoundView, VoteResult


class Votes:
    def __init__(self, ctx: Context, closing: Closing) -> None:
        self.ctx = ctx
        self.closing = closing

    async def vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """Vote for a candidate (again: move the vote there)."""
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.cast_vote(
                round_.id, actor.member_id, actor.name, ordinal, self.ctx.clock.now()
            )
        except StoreConflict as exc:
            raise _refusal(exc, round_, ordinal) from exc
        return await self._after_vote(round_, change)

    async def unvote(self, key: ChatKey, actor: Actor, round_id: int | None = None) -> VoteResult:
        """Take one's vote back."""
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.remove_vote(round_.id, actor.member_id)
        except StoreConflict as exc:
            raise _refusal(exc, round_, 0) from exc
        if change.previous is None:
            raise RelayError("You have no vote in this round to remove.")
        return await self._after_vote(round_, change)

    async def toggle_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """A button tap: vote for it, or take the vote back if it was already there."""
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.toggle_vote(
                round_.id, actor.member_id, actor.name, ordinal, self.ctx.clock.now()
            )
        except StoreConflict as exc:
            raise _refusal(exc, round_, ordinal) from exc
        return await self._after_vote(round_, change)

    async def withdraw_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult | None:
        """A reaction taken back: the vote goes only if it is still for that candidate (taking
        back the old reaction of a moved vote changes nothing; then None)."""
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.remove_vote(round_.id, actor.member_id, only_for=ordinal)
        except StoreConflict as exc:
            raise _refusal(exc, round_, ordinal) from exc
        if change.previous is None or change.current is not None:
            return None
        return await self._after_vote(round_, change)

    async def _round_for(self, key: ChatKey, round_id: int | None) -> Round:
        """The round a vote is for: the one named (it must be this chat's), else the chat's
        open round."""
        if round_id is not None:
            place = await self.ctx.store.place_of_round(round_id)
            if place is None or place.round is None:
                raise RelayError("That round does not exist.")
            if (place.chat.platform, place.chat.external_id) != (key.platform, key.external_id):
                raise RelayError("That round belongs to another chat.")
            return place.round
        found = await self.ctx.place(key)
        if found is None or found.story is None:
            raise RelayError(NO_STORY)
        if found.round is None:
            raise RelayError("No round is open to vote in.")
        return found.round

    async def _after_vote(self, round_: Round, change: VoteChange) -> VoteResult:
        snapshot = await self.ctx.store.round_snapshot(round_.id)
        assert snapshot is not None  # rounds are never deleted
        view = RoundView.of(snapshot, self.ctx.clock.now())
        closed = None
        quorum = self.ctx.rules.quorum
        if quorum and view.total_votes >= quorum:
            closed = await self.closing.close(snapshot.round, "quorum")
        return VoteResult(view=view, change=change, closed=closed)


def _refusal(exc: StoreConflict, round_: Round, ordinal: int) -> RelayError:
    if exc.reason == "no_such_candidate":
        return RelayError("There is no candidate {n} in this round.", n=ordinal)
    if round_.status == "generating":
        return RelayError("The candidates are still being written; vote in a moment.")
    return RelayError("This round is closed; votes are no longer counted.")
