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
    # The server the chat belongs to, as its platform names it (a Discord guild id): which
    # process holds it (its gateway shard). "": none (Telegram, the console) or not yet known.
    server: str = ""


@dataclass(frozen=True)
class ChatSettings:
    """Per-chat overrides set with /settings; None means the config.toml default."""

    temperature: float | None = None
    candidates: int | None = None
    vote_seconds: int | None = None
    language: str | None = None  # the language the bot speaks in this chat


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
    # When the round's message must be recorded by; past it with none, any process posts it
    # (its opener died in between). None: nothing to post, or the platform shows rounds in
    # its replies (the console).
    show_by: float | None = None

    @property
    def unshown(self) -> bool:
        """Open for votes but not yet posted: nobody could vote, so it does not close yet."""
        return self.show_by is not None and not self.message_ref


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
    sha256: str  # of the normalised text: the same novel in another encoding is a duplicate
    chars: int
    status: NovelStatus  # queued (not learned yet), trained (in a promoted version), removed
    added_by: str
    created_at: float
    added_by_name: str = ""
    encoding: str = "UTF-8"  # how its file was read


VersionStatus = Literal["promoted", "rejected"]
RunStatus = Literal["queued", "running", "succeeded", "failed"]
RunTrigger = Literal["schedule", "moderator"]


@dataclass(frozen=True)
class GateVerdict:
    """Why the gate took or refused a version (the trainer's "verdict"): the figure that
    decided, in bits/char, before and after, and its limit."""

    code: str  # "promoted", "no_gain" (the chat's held-out text), "forgetting" (the base text)
    language: str | None  # the base text's language that would be forgotten, when it says
    before: float
    after: float
    limit: float  # the gain needed, or the rise allowed


@dataclass(frozen=True)
class WriterVersion:
    """One fine-tuned version of a lineage's writer: an immutable checkpoint folder, kept
    whether it was promoted or rejected, with the figures that decided it."""

    id: int
    lineage: str  # "chat-<chat id>", or "shared" when every chat shares one writer
    number: int  # 1, 2, 3 ... in its lineage
    parent_id: int | None  # None: the shipped base
    path: str
    status: VersionStatus
    reason: str  # why it was promoted or rejected, as people read it
    chars: int  # characters of the chat's text it learned from
    chat_bits_before: float | None  # held-out bits/char of the chat's text: parent, then it
    chat_bits_after: float | None
    base_bits_before: float | None  # bits/char on the base's evaluation text: the shipped base
    base_bits_after: float | None
    created_at: float
    verdict: GateVerdict | None = None  # None for versions recorded before the gate said it


@dataclass(frozen=True)
class WriterFacts:
    """What /model tells of the writing checkpoint, as the worker measured it: numbers, which
    the platforms word in the chat's language."""

    model: str  # the checkpoint folder's name
    layers: int
    rnn: str  # "LSTM" or "GRU"
    rnn_size: int
    parameters: int
    characters: int  # the vocabulary's size
    device: str  # "cpu", "cuda", ...
    int8: bool  # int8 weights on the CPU
    held_out_bits: dict[str, float]  # language code -> bits/char on works it never saw
    validation_bits: float | None  # a checkpoint trained without per-language figures
    steps: int | None
    chars_seen: int | None  # characters read in training


@dataclass(frozen=True)
class TrainingRun:
    """One fine-tune in the queue: queued -> running -> succeeded | failed."""

    id: int
    lineage: str
    chat_id: int | None  # the chat told of the result (None: every chat of the lineage)
    status: RunStatus
    trigger: RunTrigger
    requested_by: str
    queued_at: float
    started_at: float | None
    heartbeat_at: float | None
    progress: float  # 0..1 while running
    finished_at: float | None
    parent_id: int | None  # the version it started from (None: the shipped base)
    version_id: int | None  # the version it made (promoted or rejected)
    novel_mark: int  # the newest novel and line ids it read
    line_mark: int
    chars: int
    error: str  # why it failed


@dataclass(frozen=True)
class TrainingText:
    """What a fine-tune reads: each novel and each story as its own text, and the newest ids
    read (so the next schedule knows what is new)."""

    texts: list[tuple[str, str]]  # (name, text)
    novel_mark: int
    line_mark: int

    @property
    def chars(self) -> int:
        return sum(len(text) for _, text in self.texts)


@dataclass(frozen=True)
class VersionFigures:
    """What a finished fine-tune made and how it measured."""

    path: str
    promoted: bool
    reason: str
    chars: int
    chat_bits_before: float | None
    chat_bits_after: float | None
    base_bits_before: float | None
    base_bits_after: float | None
    info_json: str = "{}"
