"""How a round looks on Discord: the one round message (candidates with live counts under their
keycaps, then the result), and the post that announces its end. Markdown, member text escaped,
in the channel's language."""

from __future__ import annotations

from discord.utils import escape_markdown

from bot.core.keycaps import keycap
from bot.core.views import ContinueResult, RoundResult, RoundView
from bot.i18n import Translator
from bot.platforms import _words

LIMIT = 2000  # Discord's longest message


def text(raw: str) -> str:
    """Member-written text shown as written, not as markdown."""
    return escape_markdown(raw, as_needed=True)


def round_message(t: Translator, view: RoundView, result: RoundResult | None = None) -> str:
    """The one message that shows a round: candidates with live counts, then the result.
    Candidate texts are shortened only if all of them together would pass the limit."""
    longest = max((len(c.text) for c in view.candidates), default=0)
    while True:
        shown = _round_text(t, view, result, longest)
        if len(shown) <= LIMIT or longest <= 40:
            return shown[:LIMIT]
        longest = longest * 9 // 10


def _round_text(t: Translator, view: RoundView, result: RoundResult | None, cap: int) -> str:
    status = view.round.status
    state = _words.status(t, status)
    if status == "voting" and view.round.deadline is not None:
        when = f"<t:{int(view.round.deadline)}:R>"  # each member's clock and language
        state = t.gettext("voting, closes {when}", when=when)
    rows = [
        t.gettext(
            "🗳️ **Round {id}** of “{title}” — {state}",
            id=view.id,
            title=text(view.story_title),
            state=state,
        )
    ]
    winner = result.winner.ordinal if result and result.winner else None
    for c in view.candidates:
        shown = c.text if len(c.text) <= cap else c.text[: cap - 1].rstrip() + "…"
        mark = " 🏆" if c.ordinal == winner else ""
        asked = t.gettext("asked by {name}", name=text(c.requested_by_name))
        keyword = f" · [{text(c.keyword)}]" if c.keyword else ""
        rows.append(
            f"{keycap(c.ordinal)}{mark} {text(shown)}\n"
            f"-# {_words.votes(t, c.votes)} · {asked}{keyword}"
        )
    if status == "voting":
        rows.append(
            t.gettext(
                "React with {first}–{last} to vote: one vote each, change it any time. "
                "/continue adds candidates.",
                first=keycap(1),
                last=keycap(len(view.candidates)),
            )
        )
    elif result is not None:
        rows.append(outcome(t, result))
    return "\n".join(rows)


def continued(t: Translator, result: ContinueResult) -> str:
    """The answer to /continue (the round message itself is posted or edited aside)."""
    if result.opened:
        said = t.gettext(
            "🗳️ Round {id} is open: vote with the reactions on the message below.",
            id=result.view.id,
        )
    else:
        said = t.gettext(
            "➕ Added {list} to round {id}; vote on the round message.",
            list=", ".join(keycap(n) for n in result.added),
            id=result.view.id,
        )
    return said + (f"\n-# {_words.fewer(t, len(result.added))}" if result.fewer else "")


def outcome(t: Translator, result: RoundResult) -> str:
    """One line: how the round ended."""
    view = result.view
    if result.reason == "cancelled":
        return t.gettext("🚫 Round {id} was cancelled; nothing joins the story.", id=view.id)
    reason = _words.reason(t, result.reason)
    if result.winner is None:
        return t.gettext(
            "⏹️ Round {id} closed ({reason}); nothing joins the story.", id=view.id, reason=reason
        )
    return t.gettext(
        "🏁 Round {id} closed ({reason}): {n} won with {votes} of {total}.",
        id=view.id,
        reason=reason,
        n=keycap(result.winner.ordinal),
        votes=_words.votes(t, result.winner.votes),
        total=view.total_votes,
    )


def announcement(t: Translator, result: RoundResult) -> str:
    """The post that announces the end of a round, with the winning line."""
    head = outcome(t, result)
    if result.winner is None or result.line is None:
        return head
    line = t.gettext(
        "🏆 Line {position} of “{title}”, by the writer:",
        position=result.line.position,
        title=text(result.view.story_title),
    )
    return f"{head}\n{line}\n> {text(result.winner.text)}"
