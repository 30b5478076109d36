"""How core results look on Telegram: HTML text (every piece of member or writer text escaped),
the vote keyboard with live counts, and splitting at Telegram's 4096-character limit.

A round is one message: its candidates, and an inline keyboard of keycaps carrying the live
counts (layout "one_message"); or, with layout "message_per_candidate", one message per
candidate (so a 👍 reaction can name one) followed by the round message with the keyboard.
"""

from __future__ import annotations

import re

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.keycaps import keycap
from bot.core.records import Line, Story
from bot.core.registry import COMMANDS, Result, command_words
from bot.core.views import (
    CandidateView,
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
from bot.platforms.telegram._html import MAX_MESSAGE, PARSE_MODE, esc, split, visible_length

__all__ = ["MAX_MESSAGE", "PARSE_MODE", "esc", "split"]  # re-exported: render.esc(), ...


_BUTTONS_PER_ROW = 3
_CALLBACK = re.compile(r"v:(\d{1,12}):(\d)")


def _votes(n: int) -> str:
    return f"{n} vote{'s' if n != 1 else ''}"


# -- rounds -------------------------------------------------------------------------------------


def callback_data(round_id: int, ordinal: int) -> str:
    """'v:<round>:<n>': well within the 64 bytes Telegram allows."""
    return f"v:{round_id}:{ordinal}"


def parse_callback(data: str | None) -> tuple[int, int] | None:
    found = _CALLBACK.fullmatch(data or "")
    return (int(found[1]), int(found[2])) if found else None


def keyboard(view: RoundView) -> InlineKeyboardMarkup:
    """One keycap button per candidate, each showing its live count."""
    buttons = [
        InlineKeyboardButton(
            f"{keycap(c.ordinal)} {c.votes}", callback_data=callback_data(view.id, c.ordinal)
        )
        for c in view.candidates
    ]
    rows = [buttons[i : i + _BUTTONS_PER_ROW] for i in range(0, len(buttons), _BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def candidate(item: CandidateView) -> str:
    """A candidate's own message: its keycap, its text, who asked for it."""
    keyword = f" · “{esc(item.keyword)}”" if item.keyword else ""
    return (
        f"{keycap(item.ordinal)} {esc(item.text)}\n"
        f"<i>asked by {esc(item.requested_by_name)}{keyword}</i>"
    )


def round_header(view: RoundView) -> str:
    """The round message, above the keyboard."""
    left = ""
    if view.seconds_left is not None:
        minutes = max(1, round(view.seconds_left / 60))
        left = f"\nVoting closes in about {minutes} min."
    return (
        f"🗳️ <b>Round {view.id}</b> of “{esc(view.story_title)}”: which line comes next?\n"
        "Tap a number to vote, tap it again to take your vote back; "
        f"a 👍 on a candidate above counts too.{left}"
    )


def round_message(view: RoundView, outcome: RoundResult | None = None) -> str:
    """Layout "one_message": the round with all its candidates, above the keyboard; once it
    ended, with the final counts and the outcome. Candidate texts are shortened only when all
    of them together would pass Telegram's limit."""
    longest = max((len(c.text) for c in view.candidates), default=0)
    while True:
        text = _round_text(view, outcome, longest)
        if visible_length(text) <= MAX_MESSAGE or longest <= 40:
            return text
        longest = longest * 9 // 10


def _round_text(view: RoundView, outcome: RoundResult | None, cap: int) -> str:
    rows = [f"🗳️ <b>Round {view.id}</b> of “{esc(view.story_title)}”: which line comes next?"]
    winner = outcome.winner.ordinal if outcome and outcome.winner else None
    for c in view.candidates:
        text = c.text if len(c.text) <= cap else c.text[: cap - 1].rstrip() + "…"
        keyword = f" · “{esc(c.keyword)}”" if c.keyword else ""
        mark = " 🏆" if c.ordinal == winner else ""
        counted = f" · <b>{_votes(c.votes)}</b>" if outcome else ""
        rows.append(
            f"\n{keycap(c.ordinal)}{mark} {esc(text)}\n"
            f"<i>asked by {esc(c.requested_by_name)}{keyword}</i>{counted}"
        )
    if outcome is not None:
        rows.append("\n" + result(outcome))
    else:
        left = ""
        if view.seconds_left is not None:
            left = f" Voting closes in about {max(1, round(view.seconds_left / 60))} min."
        rows.append("\nTap a number to vote, tap it again to take your vote back." + left)
    return "\n".join(rows)


def round_added(outcome: ContinueResult) -> str:
    """The answer to a /continue that added candidates to the open round's message."""
    added = " ".join(keycap(n) for n in outcome.added)
    return f"➕ {added} joined round {outcome.view.id} ⬆️{esc(fewer(outcome))}"


def fewer(outcome: ContinueResult) -> str:
    """A note when the writer had fewer distinct ideas than were asked for ('' otherwise)."""
    if not outcome.fewer:
        return ""
    ideas = len(outcome.added)
    return (
        f" (the writer had only {ideas} new idea{'s' if ideas != 1 else ''} this time; "
        "a higher temperature gives more)"
    )


def round_moved(view: RoundView) -> str:
    """The old round message once more candidates joined and the round was posted again."""
    return f"🗳️ Round {view.id}: more candidates joined; the vote continues below ⬇️"


def full_round(view: RoundView) -> str:
    """/round: every candidate with its count, in one text."""
    status = {
        "generating": "the writer is writing…",
        "voting": "voting",
        "closed": "closed",
        "cancelled": "cancelled",
    }[view.round.status]
    left = f", {int(view.seconds_left)} s left" if view.seconds_left is not None else ""
    rows = [f"🗳️ <b>Round {view.id}</b> of “{esc(view.story_title)}”: {status}{left}"]
    for c in view.candidates:
        rows.append(f"{keycap(c.ordinal)} {esc(c.text)} — <b>{_votes(c.votes)}</b>")
    if view.round.status == "voting":
        rows.append("Vote with the buttons under the round message, or /vote &lt;n&gt;.")
    return "\n".join(rows)


def vote_answer(vote: VoteResult) -> str:
    """The answer to a tap (plain text: callback answers have no parse mode)."""
    previous, current = vote.change.previous, vote.change.current
    if current is None:
        return f"🗑️ Your vote for {keycap(previous or 0)} is taken back."
    if previous is None:
        return f"✅ You vote for {keycap(current)}."
    if previous == current:
        return f"✅ You already vote for {keycap(current)}."
    return f"🔁 Your vote moved from {keycap(previous)} to {keycap(current)}."


def result(outcome: RoundResult) -> str:
    """The round message once the round is over (its keyboard is gone)."""
    view = outcome.view
    if outcome.reason == "cancelled":
        return f"🚫 <b>Round {view.id}</b> was cancelled; nothing joins the story."
    tally = " · ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
    if outcome.winner is None:
        return (
            f"⏹️ <b>Round {view.id}</b> closed ({esc(outcome.reason)}): nobody voted, so "
            "nothing joins the story."
        )
    where = f" as line {outcome.line.position}" if outcome.line else ""
    return (
        f"🏆 <b>Round {view.id}</b> closed ({esc(outcome.reason)}). Votes: {tally}.\n"
        f"{keycap(outcome.winner.ordinal)} wins and joins the story{where}:\n"
        f"“{esc(outcome.winner.text)}”"
    )


def winner_line(outcome: RoundResult) -> str:
    """The winner posted as the story's new line."""
    assert outcome.winner is not None
    number = f"<b>{outcome.line.position}.</b> " if outcome.line else ""
    return (
        f"📜 {number}{esc(outcome.winner.text)}\n"
        f"<i>— 🤖 the writer ({keycap(outcome.winner.ordinal)}, "
        f"{_votes(outcome.winner.votes)})</i>"
    )


# -- everything else ----------------------------------------------------------------------------


def line(item: Line) -> str:
    who = "🤖 the writer" if item.kind == "ai" else esc(item.author_name)
    return f"<b>{item.position}.</b> {esc(item.text)} <i>— {who}</i>"


def story(view: StoryView, heading: str = "") -> str:
    head = heading or f"📖 <b>{esc(view.story.title)}</b>"
    shown = len(view.lines)
    more = (
        [f"<i>… {view.total_lines - shown} earlier lines</i>"] if view.total_lines > shown else []
    )
    body = [line(item) for item in view.lines] or ["(no lines yet: /write one!)"]
    return "\n".join([head, *more, *body])


def render(outcome: Result) -> str:
    """Any command result as HTML (a round's own messages and files are sent elsewhere)."""
    match outcome:
        case StoryStarted(view):
            return (
                f"📖 New story: <b>{esc(view.story.title)}</b>. Add lines with /write, "
                "or let the writer propose some with /continue."
            )
        case StoryEnded(view):
            return story(
                view, f"🔚 <b>{esc(view.story.title)}</b> has ended ({view.total_lines} lines)."
            )
        case StoryView():
            return story(outcome)
        case StoryList(stories):
            return "\n".join(_story_row(s) for s in stories) or "No stories in this chat yet."
        case ExportFile(filename, content):
            return f"📄 {esc(filename)} ({len(content)} characters)"
        case LineAdded(item):
            return f"✍️ Line {item.position} added by {esc(item.author_name)}."
        case LineRemoved(item):
            return f"↩️ Removed line {item.position} (kept in history): “{esc(item.text[:60])}”"
        case VoteResult(view):
            counts = " · ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
            return f"{esc(vote_answer(outcome))} Now: {counts}."
        case RoundView():
            return full_round(outcome)
        case SettingsView(_, temperature, candidates, vote_seconds):
            return (
                f"⚙️ temperature {temperature}, candidates {candidates}, vote_time {vote_seconds} s"
            )
        case NovelList(novels, added):
            head = ""
            if added is not None:
                head = (
                    f"📚 Added <b>{esc(added.title)}</b>: {added.chars:,} characters, "
                    f"read as {esc(added.encoding)}.\n"
                )
            rows = [
                f"#{n.id} {esc(n.title)} — {n.chars:,} characters, added by "
                f"{esc(n.added_by_name or n.added_by)}, {n.status}"
                for n in novels
            ]
            return head + ("📚 Novels:\n" + "\n".join(rows) if rows else "📚 No novels yet.")
        case TrainingStatus():
            return "🧠 " + "\n".join(esc(row) for row in _words.status(outcome))
        case ModelView():
            return "🤖 " + "\n".join(esc(row) for row in _words.model(outcome))
        case Help(commands):
            return "\n".join(
                f"<code>{esc(usage)}</code> — {esc(what)}" for usage, what in commands
            )
    raise AssertionError(f"no Telegram rendering for {type(outcome).__name__}")


def training(news: TrainingNews) -> str:
    """A fine-tune ended (announced to the chat)."""
    return "🧠 " + esc(_words.news(news))


def _story_row(item: Story) -> str:
    return f"#{item.id} <b>{esc(item.title)}</b> ({item.status})"


def bot_commands() -> list[BotCommand]:
    """The command menu, from the command table: one entry per command word, its subcommands
    in the description."""
    grouped: dict[str, list[str]] = {name: [] for name in command_words()}
    for command in COMMANDS:
        rest = command.usage.partition(" ")[2]
        what = command.help.rstrip(".")
        grouped[command.name].append(f"{rest}: {what}" if rest else what)
    return [BotCommand(name, " · ".join(parts)[:256]) for name, parts in grouped.items()]
