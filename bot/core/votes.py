"""Votes: one per member per round, movable and removable, only while the round is voting.

Every way to vote (/vote, a button tap, a reaction) costs one read to find the round (none when
the process has just read the chat's open round: see Context.owns_round), one write transaction,
and one read for the view the platform shows: the result carries what the adapter renders, so it
needs no lookups of its own.
"""

from __future__ import annotations

from bot.core.closing import Closing
from bot.core.context import NO_STORY, Context
from bot.core.errors import RelayError
from bot.core.ports import StoreConflict
from bot.core.records import VoteChange
from bot.core.views import Actor, ChatKey, RoundView, VoteResult


class Votes:
    def __init__(self, ctx: Context, closing: Closing) -> None:
        self.ctx = ctx
        self.closing = closing

    async def vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """Vote for a candidate (again: move the vote there)."""
        voted = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.cast_vote(
                voted, actor.member_id, actor.name, ordinal, self.ctx.clock.now()
            )
        except StoreConflict as exc:
            raise await self._refusal(exc, voted, ordinal) from exc
        return await self._after_vote(voted, change)

    async def unvote(self, key: ChatKey, actor: Actor, round_id: int | None = None) -> VoteResult:
        """Take one's vote back."""
        voted = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.remove_vote(voted, actor.member_id)
        except StoreConflict as exc:
            raise await self._refusal(exc, voted, 0) from exc
        if change.previous is None:
            raise RelayError("You have no vote in this round to remove.")
        return await self._after_vote(voted, change)

    async def toggle_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """A button tap: vote for it, or take the vote back if it was already there."""
        voted = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.toggle_vote(
                voted, actor.member_id, actor.name, ordinal, self.ctx.clock.now()
            )
        except StoreConflict as exc:
            raise await self._refusal(exc, voted, ordinal) from exc
        return await self._after_vote(voted, change)

    async def withdraw_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult | None:
        """A reaction taken back: the vote goes only if it is still for that candidate (taking
        back the old reaction of a moved vote changes nothing; then None)."""
        voted = await self._round_for(key, round_id)
        try:
            change = await self.ctx.store.remove_vote(voted, actor.member_id, only_for=ordinal)
        except StoreConflict as exc:
            raise await self._refusal(exc, voted, ordinal) from exc
        if change.previous is None or change.current is not None:
            return None
        return await self._after_vote(voted, change)

    async def _round_for(self, key: ChatKey, round_id: int | None) -> int:
        """The id of the round a vote is for: the one named (it must be this chat's), else the
        chat's open round. Whether it takes votes is the vote's own transaction's check."""
        if round_id is not None:
            if self.ctx.owns_round(key, round_id):
                return round_id
            place = await self.ctx.store.place_of_round(round_id)
            if place is None or place.round is None:
                raise RelayError("That round does not exist.")
            if (place.chat.platform, place.chat.external_id) != (key.platform, key.external_id):
                raise RelayError("That round belongs to another chat.")
            self.ctx.remember_round(place)
            return round_id
        found = await self.ctx.place(key)
        if found is None or found.story is None:
            raise RelayError(NO_STORY)
        if found.round is None:
            raise RelayError("No round is open to vote in.")
        return found.round.id

    async def _refusal(self, exc: StoreConflict, round_id: int, ordinal: int) -> RelayError:
        """Why the store refused a vote, in the members' words (the round read afresh: it may
        have closed since the vote found it)."""
        if exc.reason == "no_such_candidate":
            return RelayError("There is no candidate {n} in this round.", n=ordinal)
        place = await self.ctx.store.place_of_round(round_id)
        if place is not None and place.round is not None and place.round.status == "generating":
            return RelayError("The candidates are still being written; vote in a moment.")
        return RelayError("This round is closed; votes are no longer counted.")

    async def newer_view(self, round_id: int, shown: int) -> RoundView | None:
        """The round as it is now, if it changed after revision `shown` (more votes, or it
        ended); else None. Only where several processes share the database: what another
        process showed may have been overtaken by an older view's edit landing after it. One
        small read when nothing changed."""
        if not self.ctx.shared_database:  # this process makes and shows every change itself
            return None
        revision = await self.ctx.store.round_revision(round_id)
        if revision is None or revision <= shown:
            return None
        snapshot = await self.ctx.store.round_snapshot(round_id)
        return None if snapshot is None else RoundView.of(snapshot, self.ctx.clock.now())

    async def _after_vote(self, round_id: int, change: VoteChange) -> VoteResult:
        snapshot = await self.ctx.store.round_snapshot(round_id)
        assert snapshot is not None  # rounds are never deleted
        view = RoundView.of(snapshot, self.ctx.clock.now())
        closed = None
        quorum = self.ctx.rules.quorum
        if quorum and view.total_votes >= quorum:
            closed = await self.closing.close(snapshot.round, "quorum")
        return VoteResult(view=view, change=change, closed=closed)
