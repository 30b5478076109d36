"""The answer to every command, worded once: `answer(t, m, result)` for any result the core
returns, in the reader's language, marked up by the platform's `Markup`. A new kind of result
needs one case here and nothing per platform."""

from __future__ import annotations

from bot.core import views as v
from bot.core.records import Line, Novel, Story
from bot.core.registry import Result
from bot.i18n import Translator
from bot.platforms.phrases import voting, writer
from bot.platforms.phrases.common import clip
from bot.platforms.phrases.markup import Markup


def answer(t: Translator, m: Markup, outcome: Result) -> str:
    """Any command result as text of the platform's markup."""
    match outcome:
        case v.StoryStarted(view):
            return t.gettext(
                "📖 New story: {title}. Add lines with /write, or let the writer propose some "
                "with /continue.",
                title=m.title(view.story.title),
            )
        case v.StoryRenamed(renamed, old_title):
            return t.gettext(
                "✏️ {old} is now called {title}.",
                old=m.title(old_title),
                title=m.title(renamed.title),
            )
        case v.StoryEnded(view):
            heading = t.gettext(
                "🔚 {title} has ended ({n} lines).",
                title=m.title(view.story.title),
                n=view.total_lines,
            )
            return story(t, m, view, heading)
        case v.StoryView():
            return story(t, m, outcome)
        case v.StoryList(stories):
            rows = [m.item(_story_row(t, m, s)) for s in stories]
            return "\n".join(rows) or t.gettext("No stories in this chat yet.")
        case v.ExportFile(filename, content):
            return t.gettext(
                "📄 {name} ({n} characters)", name=m.text(filename), n=t.number(len(content))
            )
        case v.LineAdded(item):
            return t.gettext(
                "✍️ Line {position} added by {name}.",
                position=item.position,
                name=m.text(item.author_name),
            )
        case v.LineRemoved(item):
            return t.gettext(
                "↩️ Removed line {position} (kept in history): “{text}”",
                position=item.position,
                text=m.text(clip(item.text)),
            )
        case v.ContinueResult():
            return voting.continued(t, m, outcome, m.vote_hint(t, outcome.view))
        case v.VoteResult():
            return voting.vote_reply(t, m, outcome)
        case v.RoundView():
            return voting.round_text(t, m, outcome, hint=m.vote_hint(t, outcome))
        case v.RoundResult():
            return voting.ended(t, m, outcome)
        case v.SettingsView(_, temperature, candidates, vote_seconds, language):
            return t.gettext(
                "⚙️ temperature {temperature}, candidates {candidates}, vote_time {seconds} s, "
                "language {language}",
                temperature=m.bold(str(temperature)),
                candidates=m.bold(str(candidates)),
                seconds=m.bold(str(vote_seconds)),
                language=m.bold(m.text(language)),
            )
        case v.NovelList():
            return novels(t, m, outcome)
        case v.TrainingStatus():
            return paragraph(m, "🧠", writer.training_status(t, outcome))
        case v.ModelView():
            return paragraph(m, "🤖", writer.model(t, outcome))
        case v.Help(commands):
            return "\n".join(
                m.item(f"{m.code(usage)} — {m.text(t.gettext(what))}") for usage, what in commands
            )
    raise AssertionError(f"no words for {type(outcome).__name__}")


def training(t: Translator, m: Markup, news: v.TrainingNews) -> str:
    """A fine-tune ended (announced to the chat)."""
    return "🧠 " + m.text(writer.news(t, news))


def refusal(t: Translator, m: Markup, message: str, params: dict[str, object]) -> str:
    """A RelayError, in the reader's language."""
    return "⚠️ " + m.text(t.gettext(message, **params))


def paragraph(m: Markup, emoji: str, rows: list[str]) -> str:
    """Plain rows under an emoji: the first beside it, the rest below."""
    first, *rest = [m.text(row) for row in rows]
    return "\n".join([f"{emoji} {first}", *(m.item(row) for row in rest)])


def story(t: Translator, m: Markup, view: v.StoryView, heading: str = "") -> str:
    """The latest lines of a story under its heading."""
    head = heading or t.ngettext(
        "📖 {title} — {n} line",
        "📖 {title} — {n} lines",
        view.total_lines,
        title=m.title(view.story.title),
    )
    rows = []
    more = view.total_lines - len(view.lines)
    if more > 0:
        rows.append(m.italic(t.gettext("(… {n} earlier lines)", n=more)))
    rows += [line(t, m, item) for item in view.lines] or [
        m.italic(t.gettext("(no lines yet: /write one!)"))
    ]
    return "\n".join([head, *(m.item(row) for row in rows)])


def line(t: Translator, m: Markup, item: Line) -> str:
    """One line of a story, numbered and credited."""
    who = t.gettext("🤖 the writer") if item.kind == "ai" else m.text(item.author_name)
    return f"{m.bold(f'{item.position}.')} {m.text(item.text)} {m.italic('— ' + who)}"


def novels(t: Translator, m: Markup, listing: v.NovelList) -> str:
    """/novel list, and what /novel add just added."""
    head = ""
    if listing.added is not None:
        added = listing.added
        head = t.gettext(
            "📚 Added {title}: {n} characters, read as {encoding}.",
            title=m.title(added.title),
            n=t.number(added.chars),
            encoding=m.text(t.gettext(added.encoding)),
        )
        head += "\n"
    if not listing.novels:
        return head + t.gettext("📚 No novels yet. A moderator can add one with /novel add.")
    rows = [m.item(_novel_row(t, m, n)) for n in listing.novels]
    return head + t.gettext("📚 Novels:") + "\n" + "\n".join(rows)


def _novel_row(t: Translator, m: Markup, item: Novel) -> str:
    return t.gettext(
        "#{id} {title} — {n} characters, added by {name}, {status}",
        id=item.id,
        title=m.title(item.title),
        n=t.number(item.chars),
        name=m.text(item.added_by_name or item.added_by),
        status=t.gettext(item.status),
    )


def _story_row(t: Translator, m: Markup, item: Story) -> str:
    status = t.gettext("open") if item.status == "open" else t.gettext("ended")
    return f"#{item.id} {m.title(item.title)} ({status})"
