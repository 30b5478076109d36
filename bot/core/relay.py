"""The relay rules, platform-neutral: stories, lines, rounds, votes, moderation, novels.

Every public coroutine is one chat command. It checks the rules, writes through the Store
(whose check-then-write methods are atomic), and returns a view for the adapter to render.
Refusals raise RelayError with a message meant for the member.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.config import NovelsConfig, RelayConfig
from bot.core import tally
from bot.core.errors import NotAllowed, RelayError
from bot.core.ports import (
    BallotBox,
    Clock,
    Store,
    StoreConflict,
    Timers,
    Writer,
    WriterRequest,
    WriterUnavailable,
)
from bot.core.records import Chat, ChatSettings, Line, NewCandidate, Round, Story, VoteChange
from bot.core.texts import check_novel, check_novel_file, clean_line, clean_title
from bot.core.views import (
    Actor,
    CandidateView,
    ChatKey,
    ContinueResult,
    ExportFile,
    NovelList,
    RoundResult,
    RoundView,
    SettingsView,
    StoryView,
    VoteResult,
)

log = logging.getLogger(__name__)

WRITER_ID = "writer"
WRITER_NAME = "the writer"


class Relay:
    """One instance serves every chat on every platform."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        clock: Clock,
        timers: Timers,
        config: RelayConfig,
        novels: NovelsConfig,
    ) -> None:
        self.store = store
        self.writer = writer
        self.clock = clock
        self.timers = timers
        self.config = config
        self.novels_config = novels
        self._ballot_boxes: dict[str, BallotBox] = {}

    def add_ballot_box(self, platform: str, box: BallotBox) -> None:
        """A platform whose votes also live on its side: read before each of its rounds closes."""
        self._ballot_boxes[platform] = box

    # -- chats and permissions ----------------------------------------------------------------

    async def chat(self, key: ChatKey) -> Chat:
        return await self.store.ensure_chat(key.platform, key.external_id, key.title)

    def is_moderator(self, key: ChatKey, actor: Actor) -> bool:
        return actor.is_moderator or f"{key.platform}:{actor.member_id}" in self.config.moderators

    def _require_moderator(self, key: ChatKey, actor: Actor, what: str) -> None:
        if not self.is_moderator(key, actor):
            raise NotAllowed(f"Only moderators can {what}.")

    async def _open_story(self, chat: Chat) -> Story:
        story = await self.store.open_story(chat.id)
        if story is None:
            raise RelayError("There is no story here yet. Start one with /story new <title>.")
        return story

    # -- stories ------------------------------------------------------------------------------

    async def new_story(self, key: ChatKey, actor: Actor, title: str) -> StoryView:
        chat = await self.chat(key)
        try:
            story = await self.store.create_story(
                chat.id, clean_title(title), actor.member_id, self.clock.now()
            )
        except StoreConflict as exc:
            current = await self.store.open_story(chat.id)
            name = f" “{current.title}”" if current else ""
            raise RelayError(
                f"This chat already has a story in progress{name}. "
                "A moderator can end it with /story end."
            ) from exc
        return StoryView(story=story, lines=[], total_lines=0)

    async def show_story(self, key: ChatKey, last: int | None = None) -> StoryView:
        story = await self._open_story(await self.chat(key))
        all_lines = await self.store.lines(story.id)
        shown = all_lines[-(last or self.config.show_lines) :]
        return StoryView(story=story, lines=shown, total_lines=len(all_lines))

    async def list_stories(self, key: ChatKey) -> list[Story]:
        return await self.store.list_stories((await self.chat(key)).id)

    async def export_story(self, key: ChatKey, fmt: str = "txt") -> ExportFile:
        if fmt not in ("txt", "md"):
            raise RelayError("Export as txt or md: /story export txt")
        chat = await self.chat(key)
        story = await self.store.open_story(chat.id)
        if story is None:
            stories = await self.store.list_stories(chat.id)
            if not stories:
                raise RelayError("There is no story here to export.")
            story = stories[-1]
        lines = await self.store.lines(story.id)
        return ExportFile(filename=_export_name(story, fmt), content=_export(story, lines, fmt))

    async def end_story(self, key: ChatKey, actor: Actor) -> StoryView:
        self._require_moderator(key, actor, "end the story")
        chat = await self.chat(key)
        story = await self._open_story(chat)
        current = await self.store.active_round(story.id)
        if current is not None:
            await self.store.cancel_round(current.id, "story ended", self.clock.now())
            self.timers.disarm(current.id)
        ended = await self.store.end_story(story.id, self.clock.now())
        lines = await self.store.lines(story.id)
        return StoryView(
            story=ended, lines=lines[-self.config.show_lines :], total_lines=len(lines)
        )

    # -- lines --------------------------------------------------------------------------------

    async def write(self, key: ChatKey, actor: Actor, text: str) -> Line:
        line_text = clean_line(text, self.config.max_line_chars)
        story = await self._open_story(await self.chat(key))
        try:
            return await self.store.add_line(
                story.id, "human", actor.member_id, actor.name, line_text, self.clock.now()
            )
        except StoreConflict as exc:
            raise RelayError("That story has ended; start a new one with /story new.") from exc

    async def undo(self, key: ChatKey, actor: Actor) -> Line:
        self._require_moderator(key, actor, "undo lines")
        story = await self._open_story(await self.chat(key))
        removed = await self.store.remove_last_line(story.id, self.clock.now())
        if removed is None:
            raise RelayError("The story has no lines to undo.")
        return removed

    # -- rounds -------------------------------------------------------------------------------

    async def continue_story(
        self, key: ChatKey, actor: Actor, keyword: str = "", length: int | None = None
    ) -> ContinueResult:
        """Open a round with the writer's candidates, or add candidates to the open one."""
        chat = await self.chat(key)
        story = await self._open_story(chat)
        keyword = " ".join(keyword.split())[:40]
        length = self._check_length(length)
        settings = await self.effective_settings(chat)
        current = await self.store.active_round(story.id)
        opened = False
        if current is None:
            try:
                current = await self.store.create_round(
                    story.id, actor.member_id, actor.name, self.clock.now()
                )
                opened = True
            except StoreConflict:
                current = await self.store.active_round(story.id)
                if current is None:  # it closed in between: simply ask again
                    raise RelayError("The round just changed; please try again.") from None
        if current.status == "generating" and not opened:
            raise RelayError(
                "The writer is still writing the candidates for this round; "
                "wait for them, then vote or add yours with /continue."
            )
        existing = await self.store.candidates(current.id)
        room = self.config.max_candidates - len(existing)
        if room <= 0:
            raise RelayError(
                f"This round already has {len(existing)} candidates, the most "
                "allowed. Vote for one of them!"
            )
        try:
            added = await self._generate(
                story,
                current,
                actor,
                keyword,
                length,
                min(settings.candidates, room),
                settings.temperature,
                first_ordinal=len(existing) + 1,
            )
        except WriterUnavailable as exc:
            if opened:
                await self.store.cancel_round(current.id, "writer unavailable", self.clock.now())
            raise RelayError(
                "The writer is not answering right now (it is being restarted). "
                "Nothing was lost; please try /continue again in a moment."
            ) from exc
        if opened:
            current = await self.store.open_voting(
                current.id, self.clock.now() + settings.vote_seconds
            )
            assert current.deadline is not None
            self.timers.arm(current.id, current.deadline)
        return ContinueResult(view=await self.round_view(current), added=added, opened=opened)

    def _check_length(self, length: int | None) -> int:
        if length is None:
            return self.config.default_length
        low, high = self.config.min_length, self.config.max_length
        if not low <= length <= high:
            raise RelayError(f"Length must be between {low} and {high} characters.")
        return length

    async def _generate(
        self,
        story: Story,
        round_: Round,
        actor: Actor,
        keyword: str,
        length: int,
        n: int,
        temperature: float,
        first_ordinal: int,
    ) -> list[int]:
        lines = await self.store.lines(story.id)
        context = "\n".join(line.text for line in lines)
        context = context[-self.config.context_chars :] + "\n" if context else ""
        # Seeds follow from the round and the candidate number: replaying a session replays it.
        seed = round_.id * 100 + first_ordinal
        produced = await self.writer.generate(
            WriterRequest(
                context=context,
                keyword=keyword,
                n=n,
                length=length,
                temperature=temperature,
                seed=seed,
            )
        )
        # A candidate becomes one story line: one paragraph, no stray whitespace.
        new = [
            NewCandidate(
                text=" ".join(c.text.split()),
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
            stored = await self.store.add_candidates(round_.id, new, self.config.max_candidates)
        except StoreConflict as exc:
            raise RelayError(
                "This round closed or filled up while the writer was writing; nothing was added."
            ) from exc
        return [c.ordinal for c in stored]

    async def round_view(self, round_: Round) -> RoundView:
        story = await self.store.get_story(round_.story_id)
        candidates = await self.store.candidates(round_.id)
        votes = await self.store.votes(round_.id)
        counts = tally.vote_counts(votes)
        left = None
        if round_.status == "voting" and round_.deadline is not None:
            left = max(0.0, round_.deadline - self.clock.now())
        return RoundView(
            round=round_,
            story_title=story.title if story else "",
            candidates=[
                CandidateView(
                    c.ordinal,
                    c.text,
                    counts[c.ordinal],
                    c.keyword,
                    c.requested_by_name,
                    c.mean_logprob,
                )
                for c in candidates
            ],
            total_votes=len(votes),
            seconds_left=left,
        )

    async def set_round_message(self, round_id: int, message_ref: str) -> None:
        """Remember the platform message that shows the round (reactions on it are votes)."""
        await self.store.set_round_message(round_id, message_ref)

    async def round_by_message(self, message_ref: str) -> Round | None:
        return await self.store.find_round_by_message(message_ref)

    async def current_round(self, key: ChatKey) -> RoundView:
        story = await self._open_story(await self.chat(key))
        current = await self.store.active_round(story.id)
        if current is None:
            raise RelayError("No round is open. Start one with /continue [keyword] [length].")
        return await self.round_view(current)

    async def _round_for(self, key: ChatKey, round_id: int | None) -> Round:
        if round_id is not None:
            found = await self.store.get_round(round_id)
            if found is None:
                raise RelayError("That round does not exist.")
            story = await self.store.get_story(found.story_id)
            chat = await self.chat(key)
            if story is None or story.chat_id != chat.id:
                raise RelayError("That round belongs to another chat.")
            return found
        story = await self._open_story(await self.chat(key))
        current = await self.store.active_round(story.id)
        if current is None:
            raise RelayError("No round is open to vote in.")
        return current

    # -- votes --------------------------------------------------------------------------------

    async def vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.store.cast_vote(
                round_.id, actor.member_id, actor.name, ordinal, self.clock.now()
            )
        except StoreConflict as exc:
            raise self._vote_refusal(exc, round_, ordinal) from exc
        return await self._after_vote(round_, change)

    async def unvote(self, key: ChatKey, actor: Actor, round_id: int | None = None) -> VoteResult:
        round_ = await self._round_for(key, round_id)
        try:
            change = await self.store.remove_vote(round_.id, actor.member_id)
        except StoreConflict as exc:
            raise self._vote_refusal(exc, round_, 0) from exc
        if change.previous is None:
            raise RelayError("You have no vote in this round to remove.")
        return await self._after_vote(round_, change)

    async def toggle_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """A button tap: vote for it, or take the vote back if it was already there."""
        round_ = await self._round_for(key, round_id)
        if await self._vote_of(round_.id, actor.member_id) == ordinal:
            return await self.unvote(key, actor, round_.id)
        return await self.vote(key, actor, ordinal, round_.id)

    async def withdraw_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult | None:
        """A reaction taken back: the vote goes only if it is still for that candidate (taking
        back the old reaction of a moved vote changes nothing; then None)."""
        round_ = await self._round_for(key, round_id)
        if await self._vote_of(round_.id, actor.member_id) != ordinal:
            return None
        return await self.unvote(key, actor, round_.id)

    async def _vote_of(self, round_id: int, member_id: str) -> int | None:
        """The candidate a member votes for in a round, if any."""
        votes = await self.store.votes(round_id)
        return next((v.ordinal for v in votes if v.member_id == member_id), None)

    def _vote_refusal(self, exc: StoreConflict, round_: Round, ordinal: int) -> RelayError:
        if exc.reason == "no_such_candidate":
            return RelayError(f"There is no candidate {ordinal} in this round.")
        if round_.status == "generating":
            return RelayError("The candidates are still being written; vote in a moment.")
        return RelayError("This round is closed; votes are no longer counted.")

    async def _after_vote(self, round_: Round, change: VoteChange) -> VoteResult:
        fresh = await self.store.get_round(round_.id) or round_
        view = await self.round_view(fresh)
        closed = None
        if self.config.quorum and view.total_votes >= self.config.quorum:
            closed = await self._close(fresh, "quorum")
        return VoteResult(view=view, change=change, closed=closed)

    # -- closing ------------------------------------------------------------------------------

    async def close_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        self._require_moderator(key, actor, "close a round")
        round_ = await self._round_for(key, None)
        result = await self._close(round_, "moderator")
        if result is None:
            raise RelayError("That round has already closed.")
        return result

    async def cancel_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        self._require_moderator(key, actor, "cancel a round")
        round_ = await self._round_for(key, None)
        cancelled = await self.store.cancel_round(round_.id, "cancelled", self.clock.now())
        if cancelled is None:
            raise RelayError("That round has already closed.")
        self.timers.disarm(round_.id)
        view = await self.round_view(cancelled)
        return RoundResult(view=view, winner=None, line=None, reason="cancelled")

    async def close_due(self, round_id: int) -> tuple[Chat, RoundResult] | None:
        """The scheduler's wake-up: close the round if it is still open and its time has come."""
        round_ = await self.store.get_round(round_id)
        if round_ is None or round_.status not in ("voting", "generating"):
            return None
        if round_.deadline is not None and round_.deadline > self.clock.now() + 0.5:
            self.timers.arm(round_.id, round_.deadline)  # woken early: sleep again
            return None
        result = await self._close(round_, "deadline")
        story = await self.store.get_story(round_.story_id)
        chat = await self.store.get_chat(story.chat_id) if story else None
        if result is None or chat is None:
            return None
        return chat, result

    async def _close(self, round_: Round, reason: str) -> RoundResult | None:
        await self._reconcile(round_)
        candidates = await self.store.candidates(round_.id)
        votes = await self.store.votes(round_.id)
        winner = tally.pick_winner(candidates, votes, self.config.no_votes)
        if winner is None and candidates and not votes:
            reason = f"{reason}, no votes"
        closed = await self.store.close_round(
            round_.id,
            winner.id if winner else None,
            reason,
            self.clock.now(),
            WRITER_ID,
            WRITER_NAME,
        )
        if closed is None:
            return None
        self.timers.disarm(round_.id)
        view = await self.round_view(closed.round)
        winner_view = next(
            (c for c in view.candidates if winner and c.ordinal == winner.ordinal), None
        )
        return RoundResult(view=view, winner=winner_view, line=closed.line, reason=reason)

    async def _reconcile(self, round_: Round) -> None:
        """Merge the votes a platform keeps on its side (reactions) into the store before the
        count, so that votes cast while the bot was offline count too."""
        if round_.status != "voting" or not round_.message_ref or not self._ballot_boxes:
            return
        story = await self.store.get_story(round_.story_id)
        chat = await self.store.get_chat(story.chat_id) if story else None
        box = self._ballot_boxes.get(chat.platform) if chat else None
        if chat is None or box is None:
            return
        try:
            ballots = await box.ballots(chat, round_)
        except Exception:  # an unreadable platform must not keep the round open: count ours
            log.exception("reading the votes of round %s on %s failed", round_.id, chat.platform)
            return
        if ballots is None:
            return
        ordinals = {c.ordinal for c in await self.store.candidates(round_.id)}
        cast, gone = tally.reconcile(await self.store.votes(round_.id), ballots, ordinals)
        try:
            for ballot in cast:
                await self.store.cast_vote(
                    round_.id,
                    ballot.member_id,
                    ballot.member_name,
                    ballot.ordinal,
                    self.clock.now(),
                )
            for member_id in gone:
                await self.store.remove_vote(round_.id, member_id)
        except StoreConflict:  # another path closed it meanwhile; that count stands
            return
        if cast or gone:
            log.info(
                "round %s: %d vote(s) cast and %d taken back from %s at close",
                round_.id,
                len(cast),
                len(gone),
                chat.platform,
            )

    async def recover(self) -> list[tuple[Chat, RoundResult]]:
        """At start-up: rounds a crash left 'generating' are opened for votes (if they have
        candidates) or dropped; overdue rounds close now; every other voting round's deadline is
        armed again. Returns the rounds closed now, for the platforms to announce."""
        for stuck in await self.store.rounds_with_status(["generating"]):
            if await self.store.candidates(stuck.id):
                await self.store.open_voting(stuck.id, self.clock.now() + self.config.vote_seconds)
            else:
                await self.store.cancel_round(stuck.id, "interrupted", self.clock.now())
        closed: list[tuple[Chat, RoundResult]] = []
        for round_ in await self.store.rounds_with_status(["voting"]):
            assert round_.deadline is not None
            if round_.deadline <= self.clock.now():
                outcome = await self.close_due(round_.id)
                if outcome is not None:
                    closed.append(outcome)
            else:
                self.timers.arm(round_.id, round_.deadline)
        return closed

    # -- settings -----------------------------------------------------------------------------

    async def effective_settings(self, chat: Chat) -> SettingsView:
        own = await self.store.chat_settings(chat.id)
        return SettingsView(
            settings=own,
            temperature=own.temperature
            if own.temperature is not None
            else self.config.temperature,
            candidates=own.candidates if own.candidates is not None else self.config.candidates,
            vote_seconds=own.vote_seconds
            if own.vote_seconds is not None
            else self.config.vote_seconds,
        )

    async def settings(
        self, key: ChatKey, actor: Actor, name: str = "", value: str = ""
    ) -> SettingsView:
        """Show the chat's settings, or change one (moderators)."""
        chat = await self.chat(key)
        if not name:
            return await self.effective_settings(chat)
        self._require_moderator(key, actor, "change settings")
        own = await self.store.chat_settings(chat.id)
        own = _apply_setting(own, name, value, self.config.max_candidates)
        await self.store.update_chat_settings(chat.id, own)
        return await self.effective_settings(chat)

    # -- novels -------------------------------------------------------------------------------

    async def check_novel_upload(
        self, key: ChatKey, actor: Actor, filename: str, size: int
    ) -> None:
        """The checks a platform can make before downloading an upload: who, name, size."""
        self._require_moderator(key, actor, "add novels")
        check_novel_file(filename, size, self.novels_config.max_bytes)

    async def add_novel(self, key: ChatKey, actor: Actor, filename: str, data: bytes) -> NovelList:
        self._require_moderator(key, actor, "add novels")
        checked = check_novel(
            filename, data, self.novels_config.max_bytes, self.novels_config.min_chars
        )
        chat = await self.chat(key)
        try:
            await self.store.add_novel(
                chat.id,
                checked.title,
                checked.sha256,
                checked.text,
                actor.member_id,
                self.clock.now(),
            )
        except StoreConflict as exc:
            raise RelayError("That novel is already in the training list.") from exc
        return NovelList(await self.store.novels(chat.id))

    async def list_novels(self, key: ChatKey) -> NovelList:
        return NovelList(await self.store.novels((await self.chat(key)).id))

    async def remove_novel(self, key: ChatKey, actor: Actor, novel_id: int) -> NovelList:
        self._require_moderator(key, actor, "remove novels")
        chat = await self.chat(key)
        if await self.store.remove_novel(chat.id, novel_id) is None:
            raise RelayError(f"There is no novel #{novel_id} in this chat's list.")
        return NovelList(await self.store.novels(chat.id))

    async def model_info(self) -> dict[str, str]:
        try:
            return await self.writer.info()
        except WriterUnavailable as exc:
            raise RelayError("The writer is restarting; ask again in a moment.") from exc


def _apply_setting(own: ChatSettings, name: str, value: str, max_candidates: int) -> ChatSettings:
    name = name.lower().replace("-", "_")
    try:
        if name == "temperature":
            temperature = float(value)
            if not 0.0 <= temperature <= 2.0:
                raise ValueError
            return replace(own, temperature=temperature)
        if name == "candidates":
            count = int(value)
            if not 1 <= count <= max_candidates:
                raise ValueError
            return replace(own, candidates=count)
        if name in ("vote_time", "vote_seconds"):
            seconds = int(value)
            if not 10 <= seconds <= 7 * 86400:
                raise ValueError
            return replace(own, vote_seconds=seconds)
    except ValueError:
        ranges = {
            "temperature": "0 to 2",
            "candidates": f"1 to {max_candidates}",
            "vote_time": "10 to 604800 seconds",
            "vote_seconds": "10 to 604800 seconds",
        }
        raise RelayError(f"{name} must be {ranges[name]}.") from None
    raise RelayError(
        "Settings: temperature, candidates, vote_time. Example: /settings temperature 0.7"
    )


def _export_name(story: Story, fmt: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in story.title).strip("_")[:60] or "story"
    return f"{safe}.{fmt}"


def _export(story: Story, lines: list[Line], fmt: str) -> str:
    """The whole story; markdown credits every line's author after the text."""
    if fmt == "txt":
        return story.title + "\n\n" + "\n\n".join(line.text for line in lines) + "\n"
    authors: dict[str, int] = {}
    for line in lines:
        authors[line.author_name] = authors.get(line.author_name, 0) + 1
    credits = "\n".join(
        f"- {name}: {n} line{'s' if n != 1 else ''}" for name, n in authors.items()
    )
    body = "\n\n".join(line.text for line in lines)
    return f"# {story.title}\n\n{body}\n\n---\n\n## Written by\n\n{credits}\n"
