"""How core results look in a terminal: plain text in the chat's language, one function per
result type."""

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
from bot.i18n import Translator
from bot.platforms import _words


def line(t: Translator, item: Line) -> str:
    who = t.gettext("🤖 the writer") if item.kind == "ai" else item.author_name
    return f"  {item.position:>3}. {item.text}   — {who}"


def story(t: Translator, view: StoryView, heading: str = "") -> str:
    head = heading or f"📖 {view.story.title}"
    shown = len(view.lines)
    more = ""
    if view.total_lines > shown:
        more = "  " + t.gettext("(… {n} earlier lines)", n=view.total_lines - shown) + "\n"
    body = "\n".join(line(t, item) for item in view.lines) or "  " + t.gettext(
        "(no lines yet: /write one!)"
    )
    return f"{head}\n{more}{body}"


def round_view(t: Translator, view: RoundView) -> str:
    state = _words.status(t, view.round.status)
    if view.seconds_left is not None:
        state += ", " + t.gettext("{seconds} s left", seconds=int(view.seconds_left))
    head = t.gettext(
        "🗳️  Round {id} of “{title}” — {state}", id=view.id, title=view.story_title, state=state
    )
    rows = []
    for c in view.candidates:
        who = f" [{c.keyword}]" if c.keyword else ""
        asked = t.gettext("asked by {name}", name=c.requested_by_name)
        rows.append(
            f"  {keycap(c.ordinal)} {c.text}\n      — {_words.votes(t, c.votes)}{who}, {asked}"
        )
    hint = ""
    if view.round.status == "voting":
        hint = "\n  " + t.gettext("Vote with /vote <n> or by typing the emoji.")
    return head + "\n" + "\n".join(rows) + hint


def result(t: Translator, outcome: RoundResult) -> str:
    view = outcome.view
    if outcome.reason == "cancelled":
        return t.gettext("🚫 Round {id} was cancelled; nothing joins the story.", id=view.id)
    reason = _words.reason(t, outcome.reason)
    if outcome.winner is None:
        return t.gettext(
            "⏹️  Round {id} closed ({reason}); nobody voted, so nothing joins the story.",
            id=view.id,
            reason=reason,
        )
    tally = ", ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
    return t.gettext(
        "🏆 Round {id} closed ({reason}). Votes: {tally}.\n"
        "   Winner {n} joins the story as the writer's line:\n"
        "   “{text}”",
        id=view.id,
        reason=reason,
        tally=tally,
        n=keycap(outcome.winner.ordinal),
        text=outcome.winner.text,
    )


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (announced)."""
    return "🧠 " + _words.news(t, news)


def render(t: Translator, outcome: Result) -> str:
    """Any command result as terminal text."""
    match outcome:
        case StoryStarted(view):
            return t.gettext(
                "📖 New story: “{title}”. Add lines with /write, or /continue.",
                title=view.story.title,
            )
        case StoryEnded(view):
            return story(
                t,
                view,
                t.gettext(
                    "🔚 “{title}” has ended ({n} lines).",
                    title=view.story.title,
                    n=view.total_lines,
                ),
            )
        case StoryView():
            return story(t, outcome)
        case StoryList(stories):
            rows = [_story_row(t, s) for s in stories]
            return "\n".join(rows) or t.gettext("No stories in this chat yet.")
        case ExportFile(filename, content):
            return t.gettext("📄 {name} ({n} characters)", name=filename, n=t.number(len(content)))
        case LineAdded(item):
            return t.gettext(
                "✍️  Line {position} added by {name}.",
                position=item.position,
                name=item.author_name,
            )
        case LineRemoved(item):
            return t.gettext(
                "↩️  Removed line {position} (kept in history): “{text}”",
                position=item.position,
                text=_words.clip(item.text),
            )
        case ContinueResult(view, added, opened):
            head = ""
            if not opened:
                head = t.gettext("➕ Added candidates {list}.", list=", ".join(map(str, added)))
                head += "\n"
            note = "\n  (" + _words.fewer(t, len(added)) + ")" if outcome.fewer else ""
            return head + round_view(t, view) + note
        case VoteResult(view, change):
            text = _vote_text(t, change.previous, change.current)
            counts = ", ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
            return t.gettext("{said} Now: {counts}.", said=text, counts=counts)
        case RoundView():
            return round_view(t, outcome)
        case RoundResult():
            return ""  # the end of a round is announced (ConsolePlatform.round_closed)
        case SettingsView(_, temperature, candidates, vote_seconds, language):
            return t.gettext(
                "⚙️  temperature {temperature}, candidates {candidates}, vote_time {seconds} s, "
                "language {language}",
                temperature=temperature,
                candidates=candidates,
                seconds=vote_seconds,
                language=language,
            )
        case NovelList():
            return _novels(t, outcome)
        case TrainingStatus():
            return "🧠 " + "\n   ".join(_words.training_status(t, outcome))
        case ModelView(picture=picture):
            rows = _words.model(t, outcome)
            if picture and Path(picture).is_file():
                rows.append(t.gettext("loss curves: {path}", path=picture))
            return "🤖 " + "\n   ".join(rows)
        case Help(commands):
            shown = [(usage, t.gettext(what)) for usage, what in commands]
            width = max(len(usage) for usage, _ in shown)
            rows = [f"  {usage:<{width}}  {what}" for usage, what in shown]
            rows += [
                "  /as <name>  " + t.gettext("speak as another member (console only)"),
                "  /quit",
            ]
            return "\n".join(rows)
    raise AssertionError(f"no console rendering for {type(outcome).__name__}")


def _novels(t: Translator, listing: NovelList) -> str:
    head = ""
    if listing.added is not None:
        added = listing.added
        head = t.gettext(
            "📚 Added “{title}”: {n} characters, read as {encoding}.",
            title=added.title,
            n=t.number(added.chars),
            encoding=t.gettext(added.encoding),
        )
        head += "\n"
    rows = [
        "  "
        + t.gettext(
            "#{id} {title} — {n} characters, added by {name}, {status}",
            id=n.id,
            title=n.title,
            n=t.number(n.chars),
            name=n.added_by_name or n.added_by,
            status=t.gettext(n.status),
        )
        for n in listing.novels
    ]
    if not rows:
        return head + t.gettext("📚 No novels yet.")
    return head + t.gettext("📚 Novels:") + "\n" + "\n".join(rows)


def _story_row(t: Translator, item: Story) -> str:
    status = t.gettext("open") if item.status == "open" else t.gettext("ended")
    return f"  #{item.id} {item.title} ({status})"


def _vote_text(t: Translator, previous: int | None, current: int | None) -> str:
    if current is None:
        return t.gettext("🗑️  Vote for {n} removed.", n=keycap(previous or 0))
    if previous is None:
        return t.gettext("✅ Voted for {n}.", n=keycap(current))
    if previous == current:
        return t.gettext("✅ You already vote for {n}.", n=keycap(current))
    return t.gettext(
        "🔁 Vote moved from {before} to {after}.", before=keycap(previous), after=keycap(current)
    )
