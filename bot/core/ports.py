"""The core's ports: what it needs from storage, the writer, the clock and the platforms.

Implementations live outside the core (storage/, bot/engine_client.py, bot/platforms/); tests may
use real ones (SQLite in a temp dir, a tiny model) or simple fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.core.records import (
    Ballot,
    Candidate,
    Chat,
    ChatSettings,
    ClosedRound,
    Line,
    LineKind,
    NewCandidate,
    Novel,
    Round,
    RoundPlace,
    RoundSnapshot,
    RoundStatus,
    RunTrigger,
    Story,
    TrainingRun,
    TrainingText,
    VersionFigures,
    Vote,
    VoteChange,
    WriterFacts,
    WriterVersion,
)
from bot.core.views import RoundResult, RoundView, TrainingNews

# How a round's close decides, from the candidates and votes its own transaction reads (so no
# vote acknowledged before the close is left out): the winner's candidate id (None: no winner)
# and the reason the round records.
CountVotes = Callable[[Sequence[Candidate], Sequence[Vote]], tuple[int | None, str]]


class StoreConflict(Exception):
    """A store refused a write because the state it checks (in the same transaction) forbids it.

    `reason` is a short machine word the core translates into a message: "story_open",
    "no_open_story", "round_open", "round_not_open", "no_such_candidate", "duplicate",
    "candidates_full".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreUnavailable(Exception):
    """The database did not answer (a PostgreSQL server restarting, the network between): the
    command did not happen, nothing acknowledged was lost, and the member may try again."""


class Store(Protocol):
    """Persistence. Every check-then-write method is atomic (one BEGIN IMMEDIATE transaction)."""

    # chats
    async def ensure_chat(
        self, platform: str, external_id: str, title: str, server: str = ""
    ) -> Chat: ...
    async def find_chat(self, platform: str, external_id: str) -> Chat | None: ...
    async def chats_with_open_stories(self) -> list[Chat]: ...
    async def get_chat(self, chat_id: int) -> Chat | None: ...
    async def chat_settings(self, chat_id: int) -> ChatSettings: ...
    async def update_chat_settings(self, chat_id: int, settings: ChatSettings) -> None: ...
    async def watch_languages(self, changed: Callable[[int | None], None]) -> None:
        """`changed(chat_id)` whenever any process changes a chat's language; `changed(None)`
        when changes may have been missed (the database was out of reach)."""
        ...

    def hears_languages(self) -> bool:
        """Whether every change of a chat's language is being heard now: always, for a store
        no other process writes."""
        ...

    # stories: at most one open story per chat (create_story raises StoreConflict("story_open"))
    async def create_story(
        self, chat_id: int, title: str, created_by: str, at: float
    ) -> Story: ...
    async def open_story(self, chat_id: int) -> Story | None: ...
    async def list_stories(self, chat_id: int) -> list[Story]: ...
    async def rename_story(self, story_id: int, title: str) -> Story: ...
    async def end_story(self, story_id: int, at: float) -> Story: ...

    # lines: add_line raises StoreConflict("no_open_story") if the story has ended
    async def add_line(
        self,
        story_id: int,
        kind: LineKind,
        author_id: str,
        author_name: str,
        text: str,
        at: float,
        round_id: int | None = None,
    ) -> Line: ...
    async def lines(
        self, story_id: int, *, include_removed: bool = False, last: int | None = None
    ) -> list[Line]: ...
    async def remove_last_line(self, story_id: int, at: float) -> Line | None: ...

    # rounds: at most one round per story in generating/voting
    async def create_round(
        self, story_id: int, opened_by: str, opened_by_name: str, at: float, seeds: int = 0
    ) -> Round: ...
    async def reserve_seeds(self, round_id: int, count: int) -> int: ...
    async def find_round_by_message(self, message_ref: str) -> Round | None: ...
    async def rounds_with_status(self, statuses: Sequence[RoundStatus]) -> list[Round]: ...
    async def due_rounds(
        self, now: float, limit: int = 100, after: tuple[float, int] | None = None
    ) -> list[Round]: ...
    async def place_of_chat(self, platform: str, external_id: str) -> RoundPlace | None: ...
    async def place_of_round(self, round_id: int) -> RoundPlace | None: ...
    async def round_snapshot(self, round_id: int) -> RoundSnapshot | None: ...
    async def round_revision(self, round_id: int) -> int | None: ...
    async def open_voting(
        self, round_id: int, deadline: float, show_by: float | None = None
    ) -> Round: ...
    async def unshown_rounds(self, now: float, limit: int = 100) -> list[Round]: ...
    async def take_showing(
        self, round_id: int, now: float, show_by: float, deadline: float
    ) -> Round | None: ...
    async def set_round_message(self, round_id: int, message_ref: str) -> None: ...
    async def adopt_round_message(self, round_id: int, message_ref: str) -> bool: ...
    async def close_round(
        self, round_id: int, count: CountVotes, at: float, writer_id: str, writer_name: str
    ) -> ClosedRound | None: ...
    async def cancel_round(self, round_id: int, reason: str, at: float) -> Round | None: ...

    # candidates: numbered 1..max_total in order of arrival; a text the round shows is skipped
    async def add_candidates(
        self, round_id: int, new: Sequence[NewCandidate], max_total: int
    ) -> list[Candidate]: ...
    async def candidates(self, round_id: int) -> list[Candidate]: ...

    # votes: one per member per round, only while the round is voting
    async def cast_vote(
        self, round_id: int, member_id: str, member_name: str, ordinal: int, at: float
    ) -> VoteChange: ...
    async def remove_vote(
        self, round_id: int, member_id: str, only_for: int | None = None
    ) -> VoteChange: ...
    async def toggle_vote(
        self, round_id: int, member_id: str, member_name: str, ordinal: int, at: float
    ) -> VoteChange: ...

    # novels: duplicates (same sha256 among a chat's non-removed novels) raise "duplicate"
    async def add_novel(
        self,
        chat_id: int,
        title: str,
        sha256: str,
        text: str,
        added_by: str,
        at: float,
        added_by_name: str = "",
        encoding: str = "UTF-8",
    ) -> Novel: ...
    async def novels(self, chat_id: int, *, include_removed: bool = False) -> list[Novel]: ...
    async def remove_novel(self, chat_id: int, novel_id: int) -> Novel | None: ...

    # the living writer: versions per lineage, the head that writes, the training queue
    async def writer_head(self, lineage: str) -> WriterVersion | None: ...
    async def writer_versions(
        self, lineage: str, limit: int | None = 10
    ) -> list[WriterVersion]: ...
    async def writer_version(self, lineage: str, number: int) -> WriterVersion | None: ...
    async def get_writer_version(self, version_id: int) -> WriterVersion | None: ...
    async def set_writer_head(self, lineage: str, version_id: int | None, at: float) -> None: ...
    async def queue_training(
        self, lineage: str, chat_id: int | None, trigger: RunTrigger, requested_by: str, at: float
    ) -> tuple[TrainingRun, bool]: ...
    async def pending_training(self, lineage: str) -> TrainingRun | None: ...
    async def training_ahead(self, run_id: int) -> int: ...
    async def claim_training(self, at: float) -> TrainingRun | None: ...
    async def heartbeat_training(self, run_id: int, progress: float, at: float) -> None: ...
    async def finish_training(
        self,
        run_id: int,
        made: VersionFigures,
        scope: int | None,
        text: TrainingText,
        at: float,
    ) -> tuple[TrainingRun, WriterVersion]: ...
    async def fail_training(self, run_id: int, error: str, at: float) -> TrainingRun | None: ...
    async def fail_running_training(
        self, error: str, at: float, *, silent_since: float | None = None
    ) -> list[TrainingRun]: ...
    async def training_runs(self, lineage: str, limit: int = 5) -> list[TrainingRun]: ...
    async def training_text(self, scope: int | None) -> TrainingText: ...
    async def new_training_chars(self, lineage: str, scope: int | None) -> int: ...
    async def chats_with_new_text(self, min_chars: int) -> list[tuple[Chat, int]]: ...

    # deliveries: True the first time a platform delivers this update (remembered for a day),
    # False for the same update again (a webhook retry that reached another process)
    async def first_delivery(self, platform: str, update_id: int, at: float) -> bool: ...
    async def forget_deliveries(self, at: float) -> int: ...

    # periodic jobs: in each interval one process (of several on one database) runs the job
    async def claim_periodic(self, name: str, every_seconds: float, at: float) -> bool: ...


@dataclass(frozen=True)
class WriterRequest:
    """One /continue: `n` candidates continuing `context`, about `length` characters each.

    Everything the writer needs travels here, explicitly (bot/core/generation.py builds it from
    [writer] of config.toml); the engine applies what it is sent. Sample i of the request uses
    seed + i, for i < n * overgenerate; the candidates returned are distinct, at most n.
    """

    context: str
    keyword: str
    n: int
    length: int  # the aim, in characters
    temperature: float
    seed: int
    max_chars: int  # cut off here (keyword included)
    min_chars: int  # no stop at a sentence end before this
    top_k: int
    top_p: float
    repetition_penalty: float
    overgenerate: int
    writer: str = ""  # the chat's writer: a checkpoint folder; "" = the shipped base


@dataclass(frozen=True)
class WriterCandidate:
    text: str
    mean_logprob: float
    temperature: float
    seed: int


class Writer(Protocol):
    """The neural writer, wherever it runs. Raises WriterUnavailable when it cannot answer."""

    async def generate(self, request: WriterRequest) -> list[WriterCandidate]: ...

    async def info(self, writer: str = "") -> WriterFacts:
        """The facts of a writer ("" = the shipped base) for /model."""
        ...


class WriterUnavailable(Exception):
    """The writer timed out or its worker died; the round is kept and the member may retry."""


class Announcer(Protocol):
    """News no command asked for, or that every member should see: a round that ended (at its
    deadline, closed by a moderator, at the quorum, or cancelled), a fine-tune that ended.
    Each platform renders each kind of news here, in one place."""

    async def round_closed(self, chat: Chat, result: RoundResult) -> None: ...

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None: ...


@runtime_checkable
class PostsRounds(Protocol):
    """An announcer whose platform shows a round as a message it records (Telegram, Discord),
    posted after the round is stored as open for votes. A process that dies between the two
    leaves a round nobody has seen: any process's sweep then posts it (`show_round`), with a
    fresh vote time. A platform that shows a round in the reply itself (the console) is not
    one."""

    def posts_rounds(self, chat: Chat) -> bool: ...

    async def show_round(self, chat: Chat, view: RoundView) -> None: ...


@runtime_checkable
class HoldsChats(Protocol):
    """An announcer that may hold only some chats in this process (Discord: the guilds of this
    process's gateway shards). Before closing a round at its deadline the core asks whether
    this process takes the chat; a round nobody here takes stays open for the process that
    does. An announcer without `takes` takes every chat. A round ended by a command (a
    moderator, the quorum) is ended by the process the command reached, which holds the chat."""

    def takes(self, chat: Chat) -> bool: ...


@dataclass(frozen=True)
class FinetuneJob:
    """One fine-tune for the trainer process: start from `parent`, learn `texts` (each novel,
    each story: the last tenth of each is held out), write the new version to `out`, and judge
    it against the parent (on the held-out text) and the shipped `base` (on its own text)."""

    run_id: int
    parent: str  # the version it starts from: a checkpoint folder or an s3:// location
    base: str  # the shipped base (its replay.txt and eval.txt anchor every fine-tune)
    out: str  # the new version's location: a folder or s3:// (published whole, never half)
    texts: list[tuple[str, str]]  # (name, text)
    time_budget: float
    threads: int
    min_gain_bits: float
    max_forget_bits: float


class Trainer(Protocol):
    """Runs one fine-tune in a process of its own. `progress` is awaited with 0..1 at every
    heartbeat; a trainer that dies, hangs or refuses raises TrainerFailed."""

    async def finetune(
        self, job: FinetuneJob, progress: Callable[[float], Awaitable[None]]
    ) -> VersionFigures: ...

    async def discard(self, path: str) -> None:
        """Delete a version from where versions are kept (its record and figures stay); a
        missing one is fine."""
        ...

    async def kept(self, path: str) -> bool:
        """Whether a version is still where versions are kept (not discarded)."""
        ...


class TrainerFailed(Exception):
    """A fine-tune did not finish; the message says why, for people."""


class BallotBox(Protocol):
    """A platform whose votes also live on its own side (Discord's reactions). The core reads it
    just before a round closes, so votes cast while the bot was away still count."""

    async def ballots(self, chat: Chat, round_: Round) -> Sequence[Ballot] | None:
        """Every member's vote shown on the round message; None when it cannot be read."""
        ...


class Clock(Protocol):
    def now(self) -> float: ...


class Timers(Protocol):
    """Wakes the core when a round's deadline passes. Deadlines themselves live in the store."""

    def arm(self, round_id: int, deadline: float) -> None: ...
    def disarm(self, round_id: int) -> None: ...
