"""The relay rules, platform-neutral, behind one facade: `Relay`.

One instance serves every chat on every platform. Each public coroutine is one thing a chat
does: it checks the rules, writes through the Store (whose check-then-write methods are atomic)
and returns a view for the platform to render; refusals raise RelayError with a message meant
for the member. Who may do what is the command table's business (bot/core/registry.py), enforced
by the router (bot/core/router.py), the only caller of these methods besides the scheduler and
the tests. The rules live in modules of one job each, which this facade puts together:

    stories.py   stories, lines, undo, export
    opening.py   /continue (opening a round, adding candidates) and how a round is seen
    votes.py     votes, moved votes, taken-back votes, the quorum
    closing.py   how rounds end (deadline, moderator, quorum, cancel) and restarts
    admin.py     a chat's settings and novels
    training.py  the living writer: the fine-tune queue, versions, /train and /model
"""

from __future__ import annotations

from bot.config import NovelsConfig, RelayConfig, TrainingConfig, WriterConfig
from bot.core.admin import ChatAdmin
from bot.core.closing import Closing
from bot.core.context import Context, Unannounced
from bot.core.opening import Opening
from bot.core.ports import Announcer, BallotBox, Clock, Store, Timers, Trainer, Writer
from bot.core.records import Chat, Line, Round, Story
from bot.core.stories import Stories
from bot.core.training import Training
from bot.core.views import (
    Actor,
    ChatKey,
    ContinueResult,
    ExportFile,
    ModelView,
    NovelList,
    RoundResult,
    RoundView,
    SettingsView,
    StoryRenamed,
    StoryView,
    TrainingStatus,
    VoteResult,
)
from bot.core.votes import Votes

__all__ = ["Relay"]


class Relay:
    """The relay core: every command of every chat, on every platform."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        clock: Clock,
        timers: Timers,
        config: RelayConfig,
        novels: NovelsConfig,
        *,
        policy: WriterConfig | None = None,
        announcer: Announcer | None = None,
        trainer: Trainer | None = None,
        training: TrainingConfig | None = None,
        writers_url: str = "writers",
        languages: tuple[str, ...] = ("en",),
        shared_database: bool = False,
    ) -> None:
        self.ctx = Context(
            store=store,
            writer=writer,
            clock=clock,
            timers=timers,
            announcer=announcer or Unannounced(),
            rules=config,
            policy=policy or WriterConfig(),
            novels=novels,
            training=training or TrainingConfig(),
            languages=languages,
            shared_database=shared_database,
        )
        self._closing = Closing(self.ctx)
        self._stories = Stories(self.ctx, self._closing)
        self._opening = Opening(self.ctx)
        self._votes = Votes(self.ctx, self._closing)
        self._admin = ChatAdmin(self.ctx)
        self.training = Training(self.ctx, trainer, writers_url)  # also the trainer's loop

    # -- who and in what language ---------------------------------------------------------------

    def is_moderator(self, key: ChatKey, actor: Actor) -> bool:
        """Whether the member may run moderators' commands in this chat."""
        return self.ctx.is_moderator(key, actor)

    async def language(self, key: ChatKey) -> str:
        """The language to speak in this chat (for every answer and announcement there)."""
        return await self.ctx.language(key)

    def spoken(self, code: str | None) -> str | None:
        """A platform's language code as one the bot speaks, or None."""
        return self.ctx.spoken(code)

    def add_ballot_box(self, platform: str, box: BallotBox) -> None:
        """A platform whose votes also live on its side: read before each of its rounds closes."""
        self.ctx.ballot_boxes[platform] = box

    async def first_delivery(self, platform: str, delivery_id: int) -> bool:
        """Whether a platform delivers this update for the first time; a second delivery (a
        webhook retry that reached another process) is not handled again."""
        return await self.ctx.store.first_delivery(platform, delivery_id, self.ctx.clock.now())

    async def forget_deliveries(self) -> int:
        """Deliveries older than a day no longer count: delete them (a periodic job)."""
        return await self.ctx.store.forget_deliveries(self.ctx.clock.now())

    # -- stories and lines ----------------------------------------------------------------------

    async def new_story(self, key: ChatKey, actor: Actor, title: str) -> StoryView:
        """/story new: a story for a chat that has none open."""
        return await self._stories.new_story(key, actor, title)

    async def show_story(self, key: ChatKey, last: int | None = None) -> StoryView:
        """/story show: the latest lines of the open story."""
        return await self._stories.show_story(key, last)

    async def list_stories(self, key: ChatKey) -> list[Story]:
        """/story list: every story of the chat."""
        return await self._stories.list_stories(key)

    async def export_story(self, key: ChatKey, fmt: str = "txt") -> ExportFile:
        """/story export: the whole story as a file."""
        return await self._stories.export_story(key, fmt)

    async def rename_story(self, key: ChatKey, title: str) -> StoryRenamed:
        """/story rename: a new title for the open story."""
        return await self._stories.rename_story(key, title)

    async def end_story(self, key: ChatKey, actor: Actor) -> StoryView:
        """/story end: close the story (an open round is cancelled)."""
        return await self._stories.end_story(key, actor)

    async def write(self, key: ChatKey, actor: Actor, text: str) -> Line:
        """/write: a member's line joins the story."""
        return await self._stories.write(key, actor, text)

    async def undo(self, key: ChatKey, actor: Actor) -> Line:
        """/undo: the last line is removed (kept in the history)."""
        return await self._stories.undo(key, actor)

    # -- rounds ---------------------------------------------------------------------------------

    async def continue_story(
        self, key: ChatKey, actor: Actor, keyword: str = "", length: int | None = None
    ) -> ContinueResult:
        """/continue: open a round of the writer's candidates, or add some to the open one."""
        return await self._opening.continue_story(key, actor, keyword, length)

    async def current_round(self, key: ChatKey) -> RoundView:
        """/round show: the open round with its live counts."""
        return await self._opening.current_round(key)

    async def open_round(self, key: ChatKey) -> Round | None:
        """The chat's open round, if any (platforms check what a tap or reaction is on)."""
        return await self._opening.open_round(key)

    async def round_by_message(self, message_ref: str) -> Round | None:
        """The round a platform message shows."""
        return await self._opening.round_by_message(message_ref)

    async def set_round_message(self, round_id: int, message_ref: str) -> None:
        """Where a platform shows the round (so taps and reactions find it after a restart)."""
        await self._opening.set_round_message(round_id, message_ref)

    async def adopt_round_message(self, round_id: int, message_ref: str) -> bool:
        """A vote on a message of the open round that no process recorded (the one that posted
        it was killed, or another process has not recorded it yet): it becomes the round's."""
        return await self._opening.adopt_round_message(round_id, message_ref)

    # -- votes ----------------------------------------------------------------------------------

    async def vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """/vote n or a reaction: vote for a candidate (again: move the vote there)."""
        return await self._votes.vote(key, actor, ordinal, round_id)

    async def unvote(self, key: ChatKey, actor: Actor, round_id: int | None = None) -> VoteResult:
        """/unvote: take one's vote back."""
        return await self._votes.unvote(key, actor, round_id)

    async def toggle_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult:
        """A button tap: vote for it, or take the vote back if it was already there."""
        return await self._votes.toggle_vote(key, actor, ordinal, round_id)

    async def withdraw_vote(
        self, key: ChatKey, actor: Actor, ordinal: int, round_id: int | None = None
    ) -> VoteResult | None:
        """A reaction taken back: the vote goes if it is still for that candidate."""
        return await self._votes.withdraw_vote(key, actor, ordinal, round_id)

    async def newer_view(self, round_id: int, shown: int) -> RoundView | None:
        """The round's view if it changed after the revision a platform just showed (only where
        several processes share the database; see Votes.newer_view)."""
        return await self._votes.newer_view(round_id, shown)

    # -- how rounds end -------------------------------------------------------------------------

    async def close_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        """/round close: count now; the winner joins the story."""
        return await self._closing.close_round(key, actor)

    async def cancel_round(self, key: ChatKey, actor: Actor) -> RoundResult:
        """/round cancel: drop the round; nothing joins the story."""
        return await self._closing.cancel_round(key, actor)

    async def close_due(self, round_id: int) -> tuple[Chat, RoundResult] | None:
        """The scheduler's wake-up for a round's deadline."""
        return await self._closing.close_due(round_id)

    async def start(self) -> None:
        """Before the first command: hear what other processes change that this one keeps in
        memory (chats' languages)."""
        await self.ctx.watch_languages()

    async def recover(self) -> list[tuple[Chat, RoundResult]]:
        """At start-up: rounds that ended while the bot was down close now."""
        return await self._closing.recover()

    async def close_overdue(self) -> list[tuple[Chat, RoundResult]]:
        """Every few seconds, in every process: rounds past their deadline close, whichever
        process opened them (one that died included)."""
        return await self._closing.close_overdue()

    async def claim_periodic(self, name: str, every_seconds: float) -> bool:
        """Whether this process runs periodic job `name` now (one process per interval)."""
        return await self.ctx.store.claim_periodic(name, every_seconds, self.ctx.clock.now())

    # -- the chat's administration --------------------------------------------------------------

    async def settings(self, key: ChatKey) -> SettingsView:
        """/settings: the chat's settings."""
        return await self._admin.settings(key)

    async def change_setting(self, key: ChatKey, name: str, value: str) -> SettingsView:
        """/settings set: change one of the chat's settings."""
        return await self._admin.change_setting(key, name, value)

    def check_novel_upload(self, filename: str, size: int) -> None:
        """An upload's name and size, checked before it is downloaded."""
        self._admin.check_novel_upload(filename, size)

    async def add_novel(self, key: ChatKey, actor: Actor, filename: str, data: bytes) -> NovelList:
        """/novel add: a novel for the writer to learn from."""
        return await self._admin.add_novel(key, actor, filename, data)

    async def list_novels(self, key: ChatKey) -> NovelList:
        """/novel list: the chat's novels."""
        return await self._admin.list_novels(key)

    async def remove_novel(self, key: ChatKey, actor: Actor, novel_id: int) -> NovelList:
        """/novel remove: drop a novel from the training list."""
        return await self._admin.remove_novel(key, actor, novel_id)

    # -- the living writer ----------------------------------------------------------------------

    async def train_now(self, key: ChatKey, actor: Actor) -> TrainingStatus:
        """/train now: queue a fine-tune of the chat's writer."""
        return await self.training.train_now(key, actor)

    async def training_status(self, key: ChatKey) -> TrainingStatus:
        """/train status: where the chat's fine-tune stands."""
        return await self.training.status(key)

    async def model(self, key: ChatKey) -> ModelView:
        """/model show: the chat's writer, its versions and figures."""
        return await self.training.model(key)

    async def rollback(self, key: ChatKey, actor: Actor, number: int) -> ModelView:
        """/model rollback: an earlier version writes again (0: the shipped writer)."""
        return await self.training.rollback(key, actor, number)
