"""How a round looks on Telegram: the round message (its candidates and keycap keyboard with the
live counts), a candidate's own message, the answers to taps, the end of a round. HTML, every
piece of member or writer text escaped, in the chat's language (the tapping member's, for an
answer to a tap)."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.keycaps import keycap
from bot.core.views import CandidateView, ContinueResult, RoundResult, RoundView, VoteResult
from bot.i18n import Translator
from bot.platforms import _words
from bot.platforms.telegram._html import MAX_MESSAGE, esc, visible_length

_BUTTONS_PER_ROW = 3
_CALLBACK = re.compile(r"v:(\d{1,12}):(\d)")


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


def candidate(t: Translator, item: CandidateView) -> str:
    """A candidate's own message (message-per-candidate layout)."""
    return f"{keycap(item.ordinal)} {esc(item.text)}\n<i>{_asked(t, item)}</i>"


def _asked(t: Translator, item: CandidateView) -> str:
    asked = t.gettext("asked by {name}", name=esc(item.requested_by_name))
    return asked + (f" · “{esc(item.keyword)}”" if item.keyword else "")


def _closes(t: Translator, view: RoundView) -> str:
    if view.seconds_left is None:
        return ""
    return " " + t.gettext("Voting closes in about {time}.", time=t.duration(view.seconds_left))


def round_header(t: Translator, view: RoundView) -> str:
    """The round message above the keyboard (message-per-candidate layout)."""
    head = t.gettext(
        "🗳️ <b>Round {id}</b> of “{title}”: which line comes next?",
        id=view.id,
        title=esc(view.story_title),
    )
    hint = t.gettext(
        "Tap a number to vote, tap it again to take your vote back; a 👍 on a candidate above "
        "counts too."
    )
    return f"{head}\n{hint}{_closes(t, view)}"


def round_message(t: Translator, view: RoundView, outcome: RoundResult | None = None) -> str:
    """The one round message: all its candidates above the keyboard; once it ended, with the
    final counts and the outcome. Candidate texts are shortened only when all of them together
    would pass Telegram's limit."""
    longest = max((len(c.text) for c in view.candidates), default=0)
    while True:
        text = _round_text(t, view, outcome, longest)
        if visible_length(text) <= MAX_MESSAGE or longest <= 40:
            return text
        longest = longest * 9 // 10


def _round_text(t: Translator, view: RoundView, outcome: RoundResult | None, cap: int) -> str:
    rows = [
        t.gettext(
            "🗳️ <b>Round {id}</b> of “{title}”: which line comes next?",
            id=view.id,
            title=esc(view.story_title),
        )
    ]
    winner = outcome.winner.ordinal if outcome and outcome.winner else None
    for c in view.candidates:
        text = c.text if len(c.text) <= cap else c.text[: cap - 1].rstrip() + "…"
        mark = " 🏆" if c.ordinal == winner else ""
        counted = f" · <b>{_words.votes(t, c.votes)}</b>" if outcome else ""
        rows.append(f"\n{keycap(c.ordinal)}{mark} {esc(text)}\n<i>{_asked(t, c)}</i>{counted}")
    if outcome is not None:
        rows.append("\n" + result(t, outcome))
    else:
        hint = t.gettext("Tap a number to vote, tap it again to take your vote back.")
        rows.append("\n" + hint + _closes(t, view))
    return "\n".join(rows)


def round_added(t: Translator, outcome: ContinueResult) -> str:
    """The answer to a /continue that added candidates to the open round's message."""
    added = " ".join(keycap(n) for n in outcome.added)
    said = t.gettext("➕ {list} joined round {id} ⬆️", list=added, id=outcome.view.id)
    return said + fewer(t, outcome)


def fewer(t: Translator, outcome: ContinueResult) -> str:
    """A note when the writer had fewer distinct ideas than were asked for ('' otherwise)."""
    return f" ({esc(_words.fewer(t, len(outcome.added)))})" if outcome.fewer else ""


def round_moved(t: Translator, view: RoundView) -> str:
    """The old round message once more candidates joined and the round was posted again."""
    return t.gettext(
        "🗳️ Round {id}: more candidates joined; the vote continues below ⬇️", id=view.id
    )


def full_round(t: Translator, view: RoundView) -> str:
    """/round: every candidate with its count, in one text."""
    state = _words.status(t, view.round.status)
    if view.seconds_left is not None:
        state += ", " + _words.time_left(t, view.seconds_left)
    rows = [
        t.gettext(
            "🗳️ <b>Round {id}</b> of “{title}”: {state}",
            id=view.id,
            title=esc(view.story_title),
            state=state,
        )
    ]
    for c in view.candidates:
        rows.append(f"{keycap(c.ordinal)} {esc(c.text)} — <b>{_words.votes(t, c.votes)}</b>")
    if view.round.status == "voting":
        rows.append(
            t.gettext("Vote with the buttons under the round message, or /vote &lt;n&gt;.")
        )
    return "\n".join(rows)


def vote_answer(t: Translator, vote: VoteResult) -> str:
    """The answer to a tap (plain text: callback answers have no parse mode)."""
    previous, current = vote.change.previous, vote.change.current
    if current is None:
        return t.gettext("🗑️ Your vote for {n} is taken back.", n=keycap(previous or 0))
    if previous is None:
        return t.gettext("✅ You vote for {n}.", n=keycap(current))
    if previous == current:
        return t.gettext("✅ You already vote for {n}.", n=keycap(current))
    return t.gettext(
        "🔁 Your vote moved from {before} to {after}.",
        before=keycap(previous),
        after=keycap(current),
    )


def result(t: Translator, outcome: RoundResult) -> str:
    """How a round ended (the round message's last part, or a message of its own)."""
    view = outcome.view
    if outcome.reason == "cancelled":
        return t.gettext(
            "🚫 <b>Round {id}</b> was cancelled; nothing joins the story.", id=view.id
        )
    reason = esc(_words.reason(t, outcome.reason))
    if outcome.winner is None:
        return t.gettext(
            "⏹️ <b>Round {id}</b> closed ({reason}): nobody voted, so nothing joins the story.",
            id=view.id,
            reason=reason,
        )
    tally = " · ".join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)
    head = t.gettext(
        "🏆 <b>Round {id}</b> closed ({reason}). Votes: {tally}.",
        id=view.id,
        reason=reason,
        tally=tally,
    )
    n = keycap(outcome.winner.ordinal)
    if outcome.line is not None:
        wins = t.gettext(
            "{n} wins and joins the story as line {position}:", n=n, position=outcome.line.position
        )
    else:
        wins = t.gettext("{n} wins and joins the story:", n=n)
    return f"{head}\n{wins}\n“{esc(outcome.winner.text)}”"


def winner_line(t: Translator, outcome: RoundResult) -> str:
    """The winner posted as the story's new line."""
    assert outcome.winner is not None
    number = f"<b>{outcome.line.position}.</b> " if outcome.line else ""
    by = t.gettext(
        "— 🤖 the writer ({n}, {votes})",
        n=keycap(outcome.winner.ordinal),
        votes=_words.votes(t, outcome.winner.votes),
    )
    return f"📜 {number}{esc(outcome.winner.text)}\n<i>{by}</i>"
