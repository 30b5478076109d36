"""Plain records the store returns and the core passes around. Times are Unix seconds (float)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StoryStatus = Literal["open", "ended"]
LineKind = Literal["human", "ai"]
RoundStatus = Literal["generating", "voting", "closed", "cancelled"]
OPEN_ROUND_STATUSES: tuple[RoundStatus, ...] = ("generating", "voting")
NovelStatus = Literal["queued", "trained", "removed"]


@dataclass(frozen=True)
class Chat:
    """A Discord channel, a Telegram group or the console: the place a story belongs to."""

    id: int
    platform: str
    external_id: str
    title: str


@dataclass(frozen=True)
class ChatSettings:
    """Per-chat overrides set with /settings; None means the config.toml default."""

    temperature: float | None = None
    candidates: int | None = None
    vote_seconds: int | None = None


@dataclass(frozen=True)
class Story:
    id: int
    chat_id: int
    title: str
    status: StoryStatus
    created_by: str
    created_at: float
    ended_at: float | None = None


@dataclass(frozen=True)
class Line:
    """One line of a story. Undone lines stay in the table with removed=True (history is kept)."""

    id: int
    story_id: int
    position: int
    kind: LineKind
    author_id: str
    author_name: str
    text: str
    round_id: int | None
    removed: bool
    created_at: float


@dataclass(frozen=True)
class Round:
    """A vote among the writer's candidates for the next line of a story."""

    id: int
    story_id: int
    status: RoundStatus
    opened_by: str
    opened_by_name: str
    created_at: float
    deadline: float | None  # set when voting opens
    closed_at: float | None
    winner_candidate_id: int | None
    close_reason: str  # "" while open; e.g. "deadline", "moderator", "quorum", "no votes"
    message_ref: str  # the platform's id of the round message ("" until posted)


@dataclass(frozen=True)
class RoundPlace:
    """Where a chat stands, read in one go: the chat, its open story and that story's open
    round (or the round asked for by id, with its own story)."""

    chat: Chat
    story: Story | None
    round: Round | None


@dataclass(frozen=True)
class NewCandidate:
    """A candidate as the writer produced it, before the store numbers it."""

    text: str
    mean_logprob: float
    keyword: str
    length: int
    temperature: float
    seed: int
    requested_by: str
    requested_by_name: str


@dataclass(frozen=True)
class Candidate:
    id: int
    round_id: int
    ordinal: int  # 1..9, the number members vote for
    text: str
    mean_logprob: float
    keyword: str
    length: int
    temperature: float
    seed: int
    requested_by: str
    requested_by_name: str


@dataclass(frozen=True)
class Vote:
    round_id: int
    member_id: str
    member_name: str
    ordinal: int
    cast_at: float


@dataclass(frozen=True)
class RoundSnapshot:
    """A round with everything members see of it, read in one go."""

    round: Round
    story_title: str
    candidates: list[Candidate]
    votes: list[Vote]
    revision: int  # bumped by every change members see (votes, new candidates)


@dataclass(frozen=True)
class Ballot:
    """A vote as a platform itself still shows it (a reaction on the round message)."""

    member_id: str
    member_name: str
    ordinal: int


@dataclass(frozen=True)
class VoteChange:
    """What a vote did: previous is the ordinal the member's vote moved from (None if new)."""

    previous: int | None
    current: int | None  # None when the vote was removed


@dataclass(frozen=True)
class ClosedRound:
    """A round the store has just closed, with the line its winner became (None: no winner)."""

    round: Round
    line: Line | None


@dataclass(frozen=True)
class Novel:
    id: int
    chat_id: int
    title: str
    sha256: str
    chars: int
    status: NovelStatus
    added_by: str
    created_at: float


@dataclass(frozen=True)
class ModelVersion:
    id: int
    path: str
    parent_id: int | None
    status: Literal["active", "retired", "rejected"]
    val_loss: float | None
    info_json: str  # what it was trained on, metrics: free-form JSON
    created_at: float


@dataclass(frozen=True)
class TrainingRun:
    id: int
    status: Literal["running", "succeeded", "failed"]
    started_at: float
    finished_at: float | None
    version_id: int | None
    metrics_json: str
    error: str
