"""The relay rules, platform-neutral, behind one facade: `Relay`.

One instance serves every chat on every platform. Each public coroutine is one chat command: it
checks the rules, writes through the Store (whose check-then-write methods are atomic) and
returns a view for the adapter to render; refusals raise RelayError with a message meant for
the member. The rules live in modules of one job each, which this facade puts together:

    stories.py   stories, lines, undo, export
    rounds.py    /continue (opening a round, adding candidates) and how a round is seen
    votes.py     votes, moved votes, taken-back votes, the quorum
    closing.py   how rounds end (deadline, moderator, quorum, cancel) and restarts
    admin.py     a chat's settings and novels
    training.py  the living writer: the fine-tune queue, versions, /train and /model
"""

from __future__ import annotations

from bot.config import NovelsConfig, RelayConfig, TrainingConfig, WriterConfig
from bot.core._shared import Shared, Unannounced
from bot.core.admin import ChatAdmin
from bot.core.closing import Closing
from bot.core.ports import Announcer, BallotBox, Clock, Store, Timers, Trainer, Writer
from bot.core.rounds import Rounds
from bot.core.stories import Stories
from bot.core.training import Training
from bot.core.views import ChatKey
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
        writers_dir: str = "writers",
        languages: tuple[str, ...] = ("en",),
    ) -> None:
        self.shared = Shared(
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
        )
        closing = Closing(self.shared)
        stories = Stories(self.shared, closing)
        rounds = Rounds(self.shared)
        votes = Votes(self.shared, closing)
        admin = ChatAdmin(self.shared)
        self.training = Training(self.shared, trainer, writers_dir)
        # stories and lines
        self.new_story = stories.new_story
        self.show_story = stories.show_story
        self.list_stories = stories.list_stories
        self.export_story = stories.export_story
        self.end_story = stories.end_story
        self.write = stories.write
        self.undo = stories.undo
        # rounds
        self.continue_story = rounds.continue_story
        self.current_round = rounds.current_round
        self.open_round = rounds.open_round
        self.round_view = rounds.round_view
        self.set_round_message = rounds.set_round_message
        self.round_by_message = rounds.round_by_message
        # votes
        self.vote = votes.vote
        self.unvote = votes.unvote
        self.toggle_vote = votes.toggle_vote
        self.withdraw_vote = votes.withdraw_vote
        # how rounds end
        self.close_round = closing.close_round
        self.cancel_round = closing.cancel_round
        self.close_due = closing.close_due
        self.recover = closing.recover
        # the chat's administration
        self.settings = admin.settings
        self.check_novel_upload = admin.check_novel_upload
        self.add_novel = admin.add_novel
        self.list_novels = admin.list_novels
        self.remove_novel = admin.remove_novel
        # the living writer
        self.train_now = self.training.train_now
        self.training_status = self.training.status
        self.model = self.training.model
        self.rollback = self.training.rollback

    @property
    def config(self) -> RelayConfig:
        """The rules of the game (config.toml's [relay]); setting it reaches every part."""
        return self.shared.rules

    @config.setter
    def config(self, rules: RelayConfig) -> None:
        self.shared.rules = rules

    @property
    def novels_config(self) -> NovelsConfig:
        return self.shared.novels

    @novels_config.setter
    def novels_config(self, novels: NovelsConfig) -> None:
        self.shared.novels = novels

    async def language(self, key: ChatKey) -> str:
        """The language to speak in this chat (for every answer and announcement there)."""
        return await self.shared.language(key)

    def add_ballot_box(self, platform: str, box: BallotBox) -> None:
        """A platform whose votes also live on its side: read before each of its rounds closes."""
        self.shared.ballot_boxes[platform] = box

    def set_announcer(self, announcer: Announcer) -> None:
        """Where the ends of rounds are told (wired after the platforms exist)."""
        self.shared.announcer = announcer
