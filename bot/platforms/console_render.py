"""How core results look in a terminal: plain text, one function per result type."""

from __future__ import annotations

from pathlib import Path

from bot.core.keycaps import keycap
from bot.core.records import Line, Story
from bot.core.registry import Result
from bot.core.views import (
    ContinueResult,
    ExportFile,
    Help,
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
    VoteResult,
)
from bot.platforms import _words


def line(item: Line) -> str:
    who = "🤖 the writer" if item.kind == "ai" else item.author_name
    return f"  {item.position:>3}. {item.text}   — {who}"


def story(view: StoryView, heading: str = "") -> str:
    head = heading or f"📖 {view.story.title}"
    shown = len(view.lines)
    more = f"  (… {view.total_lines - shown} earlier lines)\n" if view.total_lines > shown else ""
    body = "\n".join(line(item) for item in view.lines) or "  (no lines yet: /write one!)"
    return f"{head}\n{more}{body}"


def round_view(view: RoundView, heading: str = "") -> str:
    status = {
        "generating": "the writer is writing…",
        "voting": "voting",
        "closed": "closed",
        "cancelled": "cancelled",
    }[view.round.status]
    left = f", {int(view.seconds_left)} s left" if view.seconds_left is not None else ""
    head = heading or f"🗳️  Round {view.id} of “{view.story_title}” — {status}{left}"
    rows = []
    for c in view.candidates:
        who = f" [{c.keyword}]" if c.keyword else ""
        votes = f"{c.votes} vote{'s' if c.votes != 1 else ''}"
        rows.append(
            f"  {keycap(c.ordinal)} {c.text}\n      — {votes}{who}, asked by {c.requested_by_name}"
        )
    voting = view.round.status == "voting"
    hint = "\n  Vote with /vote <n> or by typing the emoji." if voting else ""
    return head + "\n" + "\n".join(rows) + hint


def result(outcome: RoundResult) -> str:
    view = outcome.view
    if outcome.reason == "cancelled":
        return f"🚫 Round {view.id} was cancelled; nothing joins the story."
    if outcome.winner is None:
        return (
            f"⏹️  Round {view.id} closed ({outcome.reason}); nobody voted, so nothing "
            "joins the story."
        )
    tally = ", ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
    return (
        f"🏆 Round {view.id} closed ({outcome.reason}). Votes: {tally}.\n"
        f"   Winner {keycap(outcome.winner.ordinal)} joins the story as the writer's line:\n"
        f"   “{outcome.winner.text}”"
    )


def render(outcome: Result) -> str:
    """Any command result as terminal text."""
    match outcome:
        case StoryStarted(view):
            return f"📖 New story: “{view.story.title}”. Add lines with /write, or /continue."
        case StoryEnded(view):
            return story(view, f"🔚 “{view.story.title}” has ended ({view.total_lines} lines).")
        case StoryView():
            return story(outcome)
        case StoryList(stories):
            return "\n".join(_story_row(s) for s in stories) or "No stories in this chat yet."
        case ExportFile(filename, content):
            return f"📄 {filename} ({len(content)} characters)"
        case LineAdded(item):
            return f"✍️  Line {item.position} added by {item.author_name}."
        case LineRemoved(item):
            return f"↩️  Removed line {item.position} (kept in history): “{item.text[:60]}”"
        case ContinueResult(view, added, opened):
            head = "" if opened else f"➕ Added candidates {', '.join(map(str, added))}.\n"
            return head + round_view(view) + _fewer(outcome)
        case VoteResult(view, change):
            text = _vote_text(change.previous, change.current)
            counts = ", ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
            return f"{text} Now: {counts}."
        case RoundView():
            return round_view(outcome)
        case RoundResult():
            return ""  # the end of a round is announced (ConsolePlatform.round_closed)
        case SettingsView(_, temperature, candidates, vote_seconds):
            return (
                f"⚙️  temperature {temperature}, candidates {candidates}, "
                f"vote_time {vote_seconds} s"
            )
        case NovelList(novels, added):
            head = ""
            if added is not None:
                head = (
                    f"📚 Added “{added.title}”: {added.chars:,} characters, "
                    f"read as {added.encoding}.\n"
                )
            rows = [
                f"  #{n.id} {n.title} — {n.chars:,} characters, added by "
                f"{n.added_by_name or n.added_by}, {n.status}"
                for n in novels
            ]
            return head + ("📚 Novels:\n" + "\n".join(rows) if rows else "📚 No novels yet.")
        case TrainingStatus():
            return "🧠 " + "\n   ".join(_words.status(outcome))
        case ModelView(picture=picture):
            rows = _words.model(outcome)
            if picture and Path(picture).is_file():
                rows.append(f"loss curves: {picture}")
            return "🤖 " + "\n   ".join(rows)
        case Help(commands):
            width = max(len(usage) for usage, _ in commands)
            return "\n".join(f"  {usage:<{width}}  {what}" for usage, what in commands) + (
                "\n  /as <name>  speak as another member (console only)\n  /quit"
            )
    raise AssertionError(f"no console rendering for {type(outcome).__name__}")


def training(news: TrainingNews) -> str:
    """A fine-tune ended (announced)."""
    return "🧠 " + _words.news(news)


def _fewer(outcome: ContinueResult) -> str:
    if not outcome.fewer:
        return ""
    ideas = len(outcome.added)
    return (
        f"\n  (The writer had only {ideas} new idea{'s' if ideas != 1 else ''} this time; "
        "a higher temperature gives more.)"
    )


def _story_row(item: Story) -> str:
    return f"  #{item.id} {item.title} ({item.status})"


def _vote_text(previous: int | None, current: int | None) -> str:
    if current is None:
        return f"🗑️  Vote for {keycap(previous or 0)} removed."
    if previous is None:
        return f"✅ Voted for {keycap(current)}."
    if previous == current:
        return f"✅ You already vote for {keycap(current)}."
    return f"🔁 Vote moved from {keycap(previous)} to {keycap(current)}."
