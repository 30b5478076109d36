"""Opening rounds: /continue opens one (or adds candidates to the open one); how a round is
seen.

A round starts 'generating' (the writer is writing its first candidates), then is 'voting'
until it closes (bot/core/closing.py). Every /continue reserves its own block of sampling seeds,
and the store skips any candidate text the round already shows, so a round never shows two
identical candidates; when the writer repeats itself the member is told so.
"""

from __future__ import annotations

from bot.core import generation
from bot.core.context import Context
from bot.core.errors import N_, RelayError
from bot.core.ports import StoreConflict, WriterUnavailable
from bot.core.records import Chat, NewCandidate, Round, Story
from bot.core.views import Actor, ChatKey, ContinueResult, RoundView

WRITER_UNAVAILABLE = N_(
    "The writer is not answering right now (it is being restarted). "
    "Nothing was lost; please try /continue again in a moment."
)


class Opening:
    """/continue and the views of a round."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def continue_story(
        self, key: ChatKey, actor: Actor, keyword: str = "", length: int | None = None
    ) -> ContinueResult:
        """Open a round with the writer's candidates, or add candidates to the open one."""
        ctx = self.ctx
        place, story = await ctx.open_story(key)
        keyword = generation.clean_keyword(keyword, ctx.policy)
        length = self._check_length(length)
        settings = await ctx.effective_settings(place.chat)
        current = place.round
        if current is not None and current.status == "generating":
            raise RelayError(
                "The writer is still writing the candidates for this round; "
                "wait for them, then vote or add yours with /continue."
            )
        shown = len(await ctx.store.candidates(current.id)) if current is not None else 0
        room = ctx.rules.max_candidates - shown
        if room <= 0:
            raise RelayError(
                "This round already has {count} candidates, the most allowed. "
                "Vote for one of them!",
                count=shown,
            )
        n = min(settings.candidates, room)
        seeds = generation.seeds_needed(ctx.policy, n)
        opened = current is None
        if current is None:
            current, taken = await self._open(story, actor, seeds)
        else:
            taken = await self._reserve(current, seeds)
        try:
            added = await self._generate(
                place.chat, story, current, actor, keyword, length, n, settings.temperature, taken
            )
        except (WriterUnavailable, RelayError) as exc:
            if opened:  # nobody has seen this round: drop it, the member may simply ask again
                await ctx.store.cancel_round(current.id, "writer unavailable", ctx.clock.now())
            if isinstance(exc, RelayError):
                raise
            raise RelayError(WRITER_UNAVAILABLE) from exc
        if opened:
            now = ctx.clock.now()
            current = await ctx.store.open_voting(
                current.id, now + settings.vote_seconds, ctx.show_by(place.chat, now)
            )
            assert current.deadline is not None
            ctx.timers.arm(current.id, current.deadline)
        return ContinueResult(
            view=await self.round_view(current), added=added, opened=opened, asked=n
        )

    async def _open(self, story: Story, actor: Actor, seeds: int) -> tuple[Round, int]:
        """A new round in 'generating' whose first request takes the first seeds."""
        try:
            round_ = await self.ctx.store.create_round(
                story.id, actor.member_id, actor.name, self.ctx.clock.now(), seeds
            )
        except StoreConflict as exc:  # another member opened one (or it closed) just now
            raise RelayError("The round just changed; please try again.") from exc
        return round_, 0

    async def _reserve(self, round_: Round, seeds: int) -> int:
        try:
            return await self.ctx.store.reserve_seeds(round_.id, seeds)
        except StoreConflict as exc:
            raise RelayError("The round just closed; start a new one with /continue.") from exc

    def _check_length(self, length: int | None) -> int:
        rules = self.ctx.rules
        if length is None:
            return rules.default_length
        if not rules.min_length <= length <= rules.max_length:
            raise RelayError(
                "Length must be between {low} and {high} characters.",
                low=rules.min_length,
                high=rules.max_length,
            )
        return length

    async def _generate(
        self,
        chat: Chat,
        story: Story,
        round_: Round,
        actor: Actor,
        keyword: str,
        length: int,
        n: int,
        temperature: float,
        taken: int,
    ) -> list[int]:
        """Ask the writer for n candidates and store the new ones; their ordinals."""
        ctx = self.ctx
        lines = await ctx.store.lines(story.id, last=ctx.policy.context_chars)
        head = await ctx.writer_head(chat)
        request = generation.writer_request(
            ctx.policy,
            writer=head.path if head else "",
            context=generation.story_tail(lines, ctx.policy),
            keyword=keyword,
            n=n,
            length=length,
            temperature=temperature,
            seed=generation.first_seed(round_.id, taken),
        )
        produced = await ctx.writer.generate(request)
        new = [
            NewCandidate(
                text=generation.one_paragraph(c.text),
                mean_logprob=c.mean_logprob,
                keyword=keyword,
                length=length,
                temperature=c.temperature,
                seed=c.seed,
                requested_by=actor.member_id,
                requested_by_name=actor.name,
            )
            for c in produced
            if c.text.strip()
        ]
        if not new:
            raise WriterUnavailable("the writer returned only empty candidates")
        try:
            stored = await ctx.store.add_candidates(round_.id, new, ctx.rules.max_candidates)
        except StoreConflict as exc:
            raise RelayError(
                "This round closed or filled up while the writer was writing; nothing was added."
            ) from exc
        if not stored:
            raise RelayError(
                "The writer only came up with candidates this round already shows. "
                "Try another keyword, or a higher temperature (/settings set temperature)."
            )
        return [c.ordinal for c in stored]

    # -- seeing a round -----------------------------------------------------------------------

    async def round_view(self, round_: Round) -> RoundView:
        """The round as members see it now: candidates with live counts, time left."""
        snapshot = await self.ctx.store.round_snapshot(round_.id)
        if snapshot is None:
            raise RelayError("That round does not exist.")
        return RoundView.of(snapshot, self.ctx.clock.now())

    async def current_round(self, key: ChatKey) -> RoundView:
        place, _story = await self.ctx.open_story(key)
        if place.round is None:
            raise RelayError("No round is open. Start one with /continue [keyword] [length].")
        return await self.round_view(place.round)

    async def open_round(self, key: ChatKey) -> Round | None:
        """The chat's open round, if any (one read; for a platform checking a tap or a
        reaction against the message that shows the round)."""
        place = await self.ctx.place(key)
        return None if place is None else place.round

    async def set_round_message(self, round_id: int, message_ref: str) -> None:
        """Remember the platform message that shows the round (reactions on it are votes)."""
        await self.ctx.store.set_round_message(round_id, message_ref)

    async def adopt_round_message(self, round_id: int, message_ref: str) -> bool:
        """The round's message, if none is recorded yet: whether it now is this one."""
        return await self.ctx.store.adopt_round_message(round_id, message_ref)

    async def round_by_message(self, message_ref: str) -> Round | None:
        return await self.ctx.store.find_round_by_message(message_ref)
