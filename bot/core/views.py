"""What core commands return: plain dataclasses that each platform renders in its own way."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import tally
from bot.core.records import (
    ChatSettings,
    Line,
    Novel,
    Round,
    RoundSnapshot,
    Story,
    TrainingRun,
    VoteChange,
    WriterFacts,
    WriterVersion,
)


@dataclass(frozen=True)
class Actor:
    """The member behind a command, as the platform knows them."""

    member_id: str
    name: str
    is_moderator: bool = False
    language: str = ""  # the member's own language, when the platform tells it ("ko-KR")


@dataclass(frozen=True)
class ChatKey:
    """Where a command came from: the platform and its own id for the chat."""

    platform: str
    external_id: str
    title: str = ""
    language: str = ""  # the chat's language as the platform sees it (a server's locale)
    server: str = ""  # the server the chat belongs to (a Discord guild id); "": none


@dataclass(frozen=True)
class StoryView:
    story: Story
    lines: list[Line]  # the latest lines, in order
    total_lines: int


@dataclass(frozen=True)
class CandidateView:
    ordinal: int
    text: str
    votes: int
    keyword: str
    requested_by_name: str
    mean_logprob: float


@dataclass(frozen=True)
class RoundView:
    """A round as members see it: candidates with live counts, and time left."""

    round: Round
    story_title: str
    candidates: list[CandidateView]
    total_votes: int
    seconds_left: float | None  # None until voting opens / after it closed
    revision: int = 0  # newer views of a round have higher revisions (live counts)

    @property
    def id(self) -> int:
        return self.round.id

    @classmethod
    def of(cls, snapshot: RoundSnapshot, now: float, round_: Round | None = None) -> RoundView:
        """The view of a snapshot (with `round_`, a newer state of the same round) at `now`."""
        round_ = round_ or snapshot.round
        counts = tally.vote_counts(snapshot.votes)
        left = None
        if round_.status == "voting" and round_.deadline is not None:
            left = max(0.0, round_.deadline - now)
        return cls(
            round=round_,
            story_title=snapshot.story_title,
            candidates=[
                CandidateView(
                    c.ordinal,
                    c.text,
                    counts[c.ordinal],
                    c.keyword,
                    c.requested_by_name,
                    c.mean_logprob,
                )
                for c in snapshot.candidates
            ],
            total_votes=len(snapshot.votes),
            seconds_left=left,
            revision=snapshot.revision,
        )


@dataclass(frozen=True)
class RoundResult:
    """A round that has just ended: the final tally and the line its winner became."""

    view: RoundView
    winner: CandidateView | None
    line: Line | None
    reason: str  # "deadline", "moderator", "quorum", "cancelled", ...


@dataclass(frozen=True)
class ContinueResult:
    """/continue: a new round opened, or more candidates joined the open one."""

    view: RoundView
    added: list[int]  # ordinals of the candidates this request added
    opened: bool  # True when this request opened the round
    asked: int = 0  # candidates asked for; more than len(added) when the writer repeated itself

    @property
    def fewer(self) -> bool:
        """The writer had fewer distinct ideas than were asked for."""
        return len(self.added) < self.asked

    @classmethod
    def unshown(cls, view: RoundView) -> ContinueResult:
        """A round posted by a sweep, its opener's process having died before posting it: as
        if its candidates had all just come."""
        ordinals = [c.ordinal for c in view.candidates]
        return cls(view=view, added=ordinals, opened=True, asked=len(ordinals))


@dataclass(frozen=True)
class VoteResult:
    view: RoundView
    change: VoteChange
    closed: RoundResult | None  # set when this vote reached the quorum and closed the round


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: str


@dataclass(frozen=True)
class SettingsView:
    settings: ChatSettings
    temperature: float
    candidates: int
    vote_seconds: int
    language: str = "en"


@dataclass(frozen=True)
class NovelList:
    novels: list[Novel]
    added: Novel | None = None  # the novel this command added (its encoding says how it was read)


@dataclass(frozen=True)
class LineAdded:
    line: Line


@dataclass(frozen=True)
class LineRemoved:
    line: Line


@dataclass(frozen=True)
class StoryStarted:
    view: StoryView


@dataclass(frozen=True)
class StoryRenamed:
    story: Story  # with its new title
    old_title: str


@dataclass(frozen=True)
class StoryEnded:
    view: StoryView


@dataclass(frozen=True)
class StoryList:
    stories: list[Story]


@dataclass(frozen=True)
class ModelView:
    """/model: the chat's writer — which version writes, where it came from, how it measured,
    the last fine-tunes, and its loss-curve picture."""

    facts: WriterFacts  # of the writing checkpoint: size, device, figures
    active: WriterVersion | None  # None: the shipped base
    versions: list[WriterVersion]  # the lineage's versions, newest first
    runs: list[TrainingRun]  # its last fine-tunes, newest first
    picture: str | None  # the active version's loss-curve PNG (a path; it may be missing)
    rolled_back: bool = False  # this command made `active` the writer


@dataclass(frozen=True)
class TrainingStatus:
    """/train: where the chat's fine-tune stands."""

    pending: TrainingRun | None  # queued or running
    queued_now: bool  # this command queued it
    ahead: int  # runs that go before it
    last: TrainingRun | None  # the last finished run
    last_version: WriterVersion | None  # what that run made
    new_chars: int  # text added since the last finished run


@dataclass(frozen=True)
class TrainingNews:
    """A fine-tune ended: the version it made (promoted or rejected, with its figures), or why
    it failed. Announced to the chat."""

    run: TrainingRun
    version: WriterVersion | None  # None when the run failed


@dataclass(frozen=True)
class Help:
    commands: list[tuple[str, str]]  # (usage, what it does)
