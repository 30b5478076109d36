"""The core's ports: what it needs from storage, the writer, the clock and the platforms.

Implementations live outside the core (storage/, bot/engine_client.py, bot/platforms/); tests may
use real ones (SQLite in a temp dir, a tiny model) or simple fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.records import (
    Ballot,
    Candidate,
    Chat,
    ChatSettings,
    ClosedRound,
    Line,
    LineKind,
    ModelVersion,
    NewCandidate,
    Novel,
    Round,
    RoundPlace,
    RoundSnapshot,
    RoundStatus,
    Story,
    TrainingRun,
    Vote,
    VoteChange,
)
from bot.core.views import RoundResult


class StoreConflict(Exception):
    """A store refused a write because the state it checks (in the same transaction) forbids it.

    `reason` is a short machine word the core translates into a message: "story_open",
    "no_open_story", "round_open", "round_not_open", "no_such_candidate", "duplicate",
    "candidates_full".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Store(Protocol):
    """Persistence. Every check-then-write method is atomic (one BEGIN IMMEDIATE transaction)."""

    # chats
    async def ensure_chat(self, platform: str, external_id: str, title: str) -> Chat: ...
    async def find_chat(self, platform: str, external_id: str) -> Chat | None: ...
    async def get_chat(self, chat_id: int) -> Chat | None: ...
    async def chat_settings(self, chat_id: int) -> ChatSettings: ...
    async def update_chat_settings(self, chat_id: int, settings: ChatSettings) -> None: ...

    # stories: at most one open story per chat (create_story raises StoreConflict("story_open"))
    async def create_story(
        self, chat_id: int, title: str, created_by: str, at: float
    ) -> Story: ...
    async def open_story(self, chat_id: int) -> Story | None: ...
    async def get_story(self, story_id: int) -> Story | None: ...
    async def list_stories(self, chat_id: int) -> list[Story]: ...
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
    async def active_round(self, story_id: int) -> Round | None: ...
    async def get_round(self, round_id: int) -> Round | None: ...
    async def find_round_by_message(self, message_ref: str) -> Round | None: ...
    async def rounds_with_status(self, statuses: Sequence[RoundStatus]) -> list[Round]: ...
    async def place_of_chat(self, platform: str, external_id: str) -> RoundPlace | None: ...
    async def place_of_round(self, round_id: int) -> RoundPlace | None: ...
    async def round_snapshot(self, round_id: int) -> RoundSnapshot | None: ...
    async def open_voting(self, round_id: int, deadline: float) -> Round: ...
    async def set_round_message(self, round_id: int, message_ref: str) -> None: ...
    async def close_round(
        self,
        round_id: int,
        winner_candidate_id: int | None,
        reason: str,
        at: float,
        writer_id: str,
        writer_name: str,
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
    async def votes(self, round_id: int) -> list[Vote]: ...

    # novels: duplicates (same sha256 among a chat's non-removed novels) raise "duplicate"
    async def add_novel(
        self, chat_id: int, title: str, sha256: str, text: str, added_by: str, at: float
    ) -> Novel: ...
    async def novels(self, chat_id: int, *, include_removed: bool = False) -> list[Novel]: ...
    async def remove_novel(self, chat_id: int, novel_id: int) -> Novel | None: ...
    async def novel_text(self, novel_id: int) -> str: ...

    # the writer's versions and fine-tune runs
    async def add_model_version(
        self,
        path: str,
        parent_id: int | None,
        status: str,
        val_loss: float | None,
        info_json: str,
        at: float,
    ) -> ModelVersion: ...
    async def active_model_version(self) -> ModelVersion | None: ...
    async def set_active_model_version(self, version_id: int) -> None: ...
    async def start_training_run(self, at: float) -> TrainingRun: ...
    async def finish_training_run(
        self,
        run_id: int,
        status: str,
        version_id: int | None,
        metrics_json: str,
        error: str,
        at: float,
    ) -> TrainingRun: ...
    async def training_runs(self, limit: int = 10) -> list[TrainingRun]: ...


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

    async def info(self) -> dict[str, str]:
        """A few facts for /model (name, size, held-out loss...), as display strings."""
        ...


class WriterUnavailable(Exception):
    """The writer timed out or its worker died; the round is kept and the member may retry."""


class Announcer(Protocol):
    """News no command asked for, or that every member should see: a round that ended (at its
    deadline, closed by a moderator, at the quorum, or cancelled). Each platform renders the
    end of a round here, in one place."""

    async def round_closed(self, chat: Chat, result: RoundResult) -> None: ...


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
