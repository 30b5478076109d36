"""How core results look on Discord: markdown text, keycap emoji, messages of at most 2000
characters. Pure functions; the adapter decides where each text goes."""

from __future__ import annotations

from dataclasses import dataclass

from discord.utils import escape_markdown

from bot.core.keycaps import keycap
from bot.core.records import Line, Novel, Story
from bot.core.registry import Result
from bot.core.views import (
    ContinueResult,
    ExportFile,
    LineAdded,
    LineRemoved,
    ModelView,
    NovelList,
    RoundResult,
    RoundView,
    SettingsView,
    StoryEnded,
    StoryList,
    StoryStarted,
    StoryView,
    TrainingNews,
    TrainingStatus,
)
from bot.platforms import _words

LIMIT = 2000  # Discord's longest message

FAILED = "⚠️ That did not work (the command list may be out of date). Try again in a moment."
NO_PERMISSION = (
    "⚠️ Discord refused: I need View Channel, Send Messages, Add Reactions and Read "
    "Message History in this channel."
)
GUILD_ONLY = "⚠️ Stories live in server channels; use me there."


@dataclass(frozen=True)
class Reply:
    """What a command answers: text (split as needed) and perhaps a file."""

    text: str
    file: ExportFile | None = None
    picture: str | None = None  # a PNG to attach (a path; left out when it is missing)


def split(text: str, limit: int = LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line end where possible, else at a space."""
    pieces: list[str] = []
    rest = text.strip() or "…"
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [p for p in pieces if p]


def _text(raw: str) -> str:
    """Member-written text shown as written, not as markdown."""
    return escape_markdown(raw, as_needed=True)


def _votes(n: int) -> str:
    return f"{n} vote{'s' if n != 1 else ''}"


# -- stories and lines -------------------------------------------------------------------------


def line(item: Line) -> str:
    who = "🤖 the writer" if item.kind == "ai" else _text(item.author_name)
    return f"**{item.position}.** {_text(item.text)} — *{who}*"


def story(view: StoryView, heading: str = "") -> Reply:
    head = heading or f"📖 **{_text(view.story.title)}** — {view.total_lines} lines"
    more = view.total_lines - len(view.lines)
    rows = [f"*(… {more} earlier lines)*"] if more > 0 else []
    rows += [line(item) for item in view.lines] or ["*(no lines yet: /write one!)*"]
    return Reply(head + "\n" + "\n".join(rows))


def story_started(view: StoryView) -> Reply:
    return Reply(
        f"📖 New story: **{_text(view.story.title)}**. Add lines with /write, or ask "
        "the writer with /continue."
    )


def story_ended(view: StoryView) -> Reply:
    return story(view, f"🔚 **{_text(view.story.title)}** has ended ({view.total_lines} lines).")


def story_list(stories: list[Story]) -> Reply:
    rows = [f"#{s.id} **{_text(s.title)}** ({s.status})" for s in stories]
    return Reply("\n".join(rows) or "No stories in this channel yet.")


def export(file: ExportFile) -> Reply:
    return Reply(f"📄 The whole story: {file.filename}", file=file)


def line_added(item: Line) -> Reply:
    return Reply(f"✍️ {line(item)}")


def line_removed(item: Line) -> Reply:
    return Reply(f"↩️ Removed line {item.position} (kept in history): “{_text(item.text[:80])}”")


# -- rounds ------------------------------------------------------------------------------------


def round_message(view: RoundView, result: RoundResult | None = None) -> str:
    """The one message that shows a round: candidates with live counts, then the result.
    Candidate texts are shortened only if all of them together would pass the limit."""
    longest = max((len(c.text) for c in view.candidates), default=0)
    while True:
        text = _round_text(view, result, longest)
        if len(text) <= LIMIT or longest <= 40:
            return text[:LIMIT]
        longest = longest * 9 // 10


def _round_text(view: RoundView, result: RoundResult | None, cap: int) -> str:
    status = view.round.status
    if status == "voting" and view.round.deadline is not None:
        state = f"voting, closes <t:{int(view.round.deadline)}:R>"
    else:
        state = {
            "generating": "the writer is writing…",
            "voting": "voting",
            "closed": "closed",
            "cancelled": "cancelled",
        }[status]
    rows = [f"🗳️ **Round {view.id}** of “{_text(view.story_title)}” — {state}"]
    winner = result.winner.ordinal if result and result.winner else None
    for c in view.candidates:
        text = c.text if len(c.text) <= cap else c.text[: cap - 1].rstrip() + "…"
        mark = " 🏆" if c.ordinal == winner else ""
        asked = f" · [{_text(c.keyword)}]" if c.keyword else ""
        rows.append(
            f"{keycap(c.ordinal)}{mark} {_text(text)}\n"
            f"-# {_votes(c.votes)} · asked by {_text(c.requested_by_name)}{asked}"
        )
    if status == "voting":
        rows.append(
            f"React with {keycap(1)}–{keycap(len(view.candidates))} to vote: one vote "
            "each, change it any time. /continue adds candidates."
        )
    elif result is not None:
        rows.append(outcome(result))
    return "\n".join(rows)


def continued(result: ContinueResult) -> Reply:
    if result.opened:
        return Reply(
            f"🗳️ Round {result.view.id} is open: vote with the reactions on the message below."
            + _fewer(result)
        )
    added = ", ".join(keycap(n) for n in result.added)
    return Reply(
        f"➕ Added {added} to round {result.view.id}; vote on the round message." + _fewer(result)
    )


def _fewer(result: ContinueResult) -> str:
    if not result.fewer:
        return ""
    ideas = len(result.added)
    return (
        f"\n-# The writer had only {ideas} new idea{'s' if ideas != 1 else ''} this time; "
        "a higher temperature gives more."
    )


def round_status(view: RoundView) -> Reply:
    return Reply(round_message(view))


def outcome(result: RoundResult) -> str:
    """One line: how the round ended."""
    view = result.view
    if result.reason == "cancelled":
        return f"🚫 Round {view.id} was cancelled; nothing joins the story."
    if result.winner is None:
        return f"⏹️ Round {view.id} closed ({result.reason}); nothing joins the story."
    return (
        f"🏁 Round {view.id} closed ({result.reason}): {keycap(result.winner.ordinal)} won "
        f"with {_votes(result.winner.votes)} of {view.total_votes}."
    )


def announcement(result: RoundResult) -> Reply:
    """The post that announces the end of a round, with the winning line."""
    head = outcome(result)
    if result.winner is None or result.line is None:
        return Reply(head)
    return Reply(
        f"{head}\n🏆 Line {result.line.position} of “{_text(result.view.story_title)}”, "
        f"by the writer:\n> {_text(result.winner.text)}"
    )


# -- the rest ----------------------------------------------------------------------------------


def settings(view: SettingsView) -> Reply:
    return Reply(
        f"⚙️ temperature **{view.temperature}**, candidates **{view.candidates}**, "
        f"vote_time **{view.vote_seconds} s**"
    )


def novels(listing: NovelList) -> Reply:
    head = ""
    if listing.added is not None:
        added = listing.added
        head = (
            f"📚 Added **{_text(added.title)}**: {added.chars:,} characters, "
            f"read as {added.encoding}.\n"
        )
    if not listing.novels:
        return Reply(head + "📚 No novels yet. A moderator can add one with /novel add.")
    return Reply(head + "📚 Novels:\n" + "\n".join(_novel(n) for n in listing.novels))


def _novel(item: Novel) -> str:
    who = _text(item.added_by_name or item.added_by)
    return (
        f"#{item.id} **{_text(item.title)}** — {item.chars:,} characters, by {who}, {item.status}"
    )


def model(view: ModelView) -> Reply:
    """/model, with the active version's loss curves attached."""
    return Reply("🤖 " + "\n".join(_text(row) for row in _words.model(view)), picture=view.picture)


def training_status(status: TrainingStatus) -> Reply:
    return Reply("🧠 " + "\n".join(_text(row) for row in _words.status(status)))


def training(news: TrainingNews) -> str:
    """A fine-tune ended (posted in the channel)."""
    return "🧠 " + _text(_words.news(news))


def reply(outcome: Result) -> Reply:
    """The answer to a slash command, by the kind of its result."""
    match outcome:
        case StoryStarted(view):
            return story_started(view)
        case StoryEnded(view):
            return story_ended(view)
        case StoryView():
            return story(outcome)
        case StoryList(stories):
            return story_list(stories)
        case ExportFile():
            return export(outcome)
        case LineAdded(item):
            return line_added(item)
        case LineRemoved(item):
            return line_removed(item)
        case ContinueResult():
            return continued(outcome)
        case RoundView():
            return round_status(outcome)
        case RoundResult():
            return announcement(outcome)
        case SettingsView():
            return settings(outcome)
        case NovelList():
            return novels(outcome)
        case TrainingStatus():
            return training_status(outcome)
        case ModelView():
            return model(outcome)
    raise AssertionError(f"no Discord rendering for {type(outcome).__name__}")
