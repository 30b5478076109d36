"""How command results look on Discord: markdown text in the channel's language (the member's,
for a refusal only they see), keycap emoji, messages of at most 2000 characters. Pure functions;
the adapter decides where each text goes. A round's message: render_round.py."""

from __future__ import annotations

from dataclasses import dataclass

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
from bot.i18n import N_, Translator
from bot.platforms import _words
from bot.platforms.discord.render_round import LIMIT, announcement, continued, round_message
from bot.platforms.discord.render_round import text as _text

FAILED = N_("⚠️ That did not work (the command list may be out of date). Try again in a moment.")
NO_PERMISSION = N_(
    "⚠️ Discord refused: I need View Channel, Send Messages, Add Reactions and Read "
    "Message History in this channel."
)
GUILD_ONLY = N_("⚠️ Stories live in server channels; use me there.")


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


def line(t: Translator, item: Line) -> str:
    who = t.gettext("🤖 the writer") if item.kind == "ai" else _text(item.author_name)
    return f"**{item.position}.** {_text(item.text)} — *{who}*"


def story(t: Translator, view: StoryView, heading: str = "") -> Reply:
    head = heading or t.gettext(
        "📖 **{title}** — {n} lines", title=_text(view.story.title), n=view.total_lines
    )
    more = view.total_lines - len(view.lines)
    rows = ["*" + t.gettext("(… {n} earlier lines)", n=more) + "*"] if more > 0 else []
    rows += [line(t, item) for item in view.lines] or [
        "*" + t.gettext("(no lines yet: /write one!)") + "*"
    ]
    return Reply(head + "\n" + "\n".join(rows))


def novels(t: Translator, listing: NovelList) -> Reply:
    head = ""
    if listing.added is not None:
        added = listing.added
        head = t.gettext(
            "📚 Added **{title}**: {n} characters, read as {encoding}.",
            title=_text(added.title),
            n=t.number(added.chars),
            encoding=t.gettext(added.encoding),
        )
        head += "\n"
    if not listing.novels:
        return Reply(
            head + t.gettext("📚 No novels yet. A moderator can add one with /novel add.")
        )
    rows = "\n".join(_novel(t, n) for n in listing.novels)
    return Reply(head + t.gettext("📚 Novels:") + "\n" + rows)


def _novel(t: Translator, item: Novel) -> str:
    return t.gettext(
        "#{id} **{title}** — {n} characters, by {name}, {status}",
        id=item.id,
        title=_text(item.title),
        n=t.number(item.chars),
        name=_text(item.added_by_name or item.added_by),
        status=t.gettext(item.status),
    )


def _story_row(t: Translator, item: Story) -> str:
    status = t.gettext("open") if item.status == "open" else t.gettext("ended")
    return f"#{item.id} **{_text(item.title)}** ({status})"


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (posted in the channel)."""
    return "🧠 " + _text(_words.news(t, news))


def reply(t: Translator, outcome: Result) -> Reply:
    """The answer to a slash command, by the kind of its result."""
    match outcome:
        case StoryStarted(view):
            return Reply(
                t.gettext(
                    "📖 New story: **{title}**. Add lines with /write, or ask the writer with "
                    "/continue.",
                    title=_text(view.story.title),
                )
            )
        case StoryEnded(view):
            heading = t.gettext(
                "🔚 **{title}** has ended ({n} lines).",
                title=_text(view.story.title),
                n=view.total_lines,
            )
            return story(t, view, heading)
        case StoryView():
            return story(t, outcome)
        case StoryList(stories):
            rows = [_story_row(t, s) for s in stories]
            return Reply("\n".join(rows) or t.gettext("No stories in this channel yet."))
        case ExportFile():
            said = t.gettext("📄 The whole story: {name}", name=outcome.filename)
            return Reply(said, file=outcome)
        case LineAdded(item):
            return Reply(f"✍️ {line(t, item)}")
        case LineRemoved(item):
            return Reply(
                t.gettext(
                    "↩️ Removed line {position} (kept in history): “{text}”",
                    position=item.position,
                    text=_text(_words.clip(item.text)),
                )
            )
        case ContinueResult():
            return Reply(continued(t, outcome))
        case RoundView():
            return Reply(round_message(t, outcome))
        case RoundResult():
            return Reply(announcement(t, outcome))
        case SettingsView():
            return Reply(
                t.gettext(
                    "⚙️ temperature **{temperature}**, candidates **{candidates}**, vote_time "
                    "**{seconds} s**, language **{language}**",
                    temperature=outcome.temperature,
                    candidates=outcome.candidates,
                    seconds=outcome.vote_seconds,
                    language=outcome.language,
                )
            )
        case NovelList():
            return novels(t, outcome)
        case TrainingStatus():
            rows = _words.training_status(t, outcome)
            return Reply("🧠 " + "\n".join(_text(row) for row in rows))
        case ModelView():
            rows = _words.model(t, outcome)
            return Reply("🤖 " + "\n".join(_text(row) for row in rows), picture=outcome.picture)
    raise AssertionError(f"no Discord rendering for {type(outcome).__name__}")
