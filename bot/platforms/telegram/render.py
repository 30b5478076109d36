"""How command results look on Telegram: HTML text in the chat's language (every piece of member
or writer text escaped), split at Telegram's 4096-character limit, and the command menu in each
language. A round's own messages: render_round.py."""

from __future__ import annotations

from telegram import BotCommand

from bot.core.keycaps import keycap
from bot.core.records import Line, Novel, Story
from bot.core.registry import COMMANDS, Result, command_words
from bot.core.views import (
    ExportFile,
    Help,
    LineAdded,
    LineRemoved,
    ModelView,
    NovelList,
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
from bot.platforms.telegram._html import MAX_MESSAGE, PARSE_MODE, esc, split
from bot.platforms.telegram.render_round import full_round, vote_answer

__all__ = ["MAX_MESSAGE", "PARSE_MODE", "esc", "split"]  # re-exported: render.esc(), ...


def line(t: Translator, item: Line) -> str:
    who = t.gettext("🤖 the writer") if item.kind == "ai" else esc(item.author_name)
    return f"<b>{item.position}.</b> {esc(item.text)} <i>— {who}</i>"


def story(t: Translator, view: StoryView, heading: str = "") -> str:
    head = heading or f"📖 <b>{esc(view.story.title)}</b>"
    shown = len(view.lines)
    more = []
    if view.total_lines > shown:
        more = ["<i>" + t.gettext("… {n} earlier lines", n=view.total_lines - shown) + "</i>"]
    body = [line(t, item) for item in view.lines] or [t.gettext("(no lines yet: /write one!)")]
    return "\n".join([head, *more, *body])


def render(t: Translator, outcome: Result) -> str:
    """Any command result as HTML (a round's own messages and files are sent elsewhere)."""
    match outcome:
        case StoryStarted(view):
            return t.gettext(
                "📖 New story: <b>{title}</b>. Add lines with /write, or let the writer propose "
                "some with /continue.",
                title=esc(view.story.title),
            )
        case StoryEnded(view):
            heading = t.gettext(
                "🔚 <b>{title}</b> has ended ({n} lines).",
                title=esc(view.story.title),
                n=view.total_lines,
            )
            return story(t, view, heading)
        case StoryView():
            return story(t, outcome)
        case StoryList(stories):
            rows = [_story_row(t, s) for s in stories]
            return "\n".join(rows) or t.gettext("No stories in this chat yet.")
        case ExportFile(filename, content):
            return t.gettext(
                "📄 {name} ({n} characters)", name=esc(filename), n=t.number(len(content))
            )
        case LineAdded(item):
            return t.gettext(
                "✍️ Line {position} added by {name}.",
                position=item.position,
                name=esc(item.author_name),
            )
        case LineRemoved(item):
            return t.gettext(
                "↩️ Removed line {position} (kept in history): “{text}”",
                position=item.position,
                text=esc(_words.clip(item.text)),
            )
        case VoteResult(view):
            counts = " · ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
            said = esc(vote_answer(t, outcome))
            return t.gettext("{said} Now: {counts}.", said=said, counts=counts)
        case RoundView():
            return full_round(t, outcome)
        case SettingsView(_, temperature, candidates, vote_seconds, language):
            return t.gettext(
                "⚙️ temperature {temperature}, candidates {candidates}, vote_time {seconds} s, "
                "language {language}",
                temperature=temperature,
                candidates=candidates,
                seconds=vote_seconds,
                language=language,
            )
        case NovelList(novels, added):
            head = ""
            if added is not None:
                head = t.gettext(
                    "📚 Added <b>{title}</b>: {n} characters, read as {encoding}.",
                    title=esc(added.title),
                    n=t.number(added.chars),
                    encoding=esc(t.gettext(added.encoding)),
                )
                head += "\n"
            if not novels:
                return head + t.gettext("📚 No novels yet.")
            rows = [_novel_row(t, n) for n in novels]
            return head + t.gettext("📚 Novels:") + "\n" + "\n".join(rows)
        case TrainingStatus():
            return "🧠 " + "\n".join(esc(row) for row in _words.training_status(t, outcome))
        case ModelView():
            return "🤖 " + "\n".join(esc(row) for row in _words.model(t, outcome))
        case Help(commands):
            return "\n".join(
                f"<code>{esc(usage)}</code> — {esc(t.gettext(what))}" for usage, what in commands
            )
    raise AssertionError(f"no Telegram rendering for {type(outcome).__name__}")


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (announced to the chat)."""
    return "🧠 " + esc(_words.news(t, news))


def refusal(t: Translator, message: str, params: dict[str, object]) -> str:
    """A RelayError, in the reader's language (HTML)."""
    return "⚠️ " + esc(t.gettext(message, **params))


def _novel_row(t: Translator, item: Novel) -> str:
    return t.gettext(
        "#{id} {title} — {n} characters, added by {name}, {status}",
        id=item.id,
        title=esc(item.title),
        n=t.number(item.chars),
        name=esc(item.added_by_name or item.added_by),
        status=t.gettext(item.status),
    )


def _story_row(t: Translator, item: Story) -> str:
    status = t.gettext("open") if item.status == "open" else t.gettext("ended")
    return f"#{item.id} <b>{esc(item.title)}</b> ({status})"


def bot_commands(t: Translator) -> list[BotCommand]:
    """The command menu in one language, from the command table: one entry per command word,
    its subcommands in the description."""
    grouped: dict[str, list[str]] = {name: [] for name in command_words()}
    for command in COMMANDS:
        rest = command.usage.partition(" ")[2]
        what = t.gettext(command.help).rstrip(".")
        grouped[command.name].append(f"{rest}: {what}" if rest else what)
    return [BotCommand(name, " · ".join(parts)[:256]) for name, parts in grouped.items()]
