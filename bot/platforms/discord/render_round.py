"""How a round looks on Discord: the one round message (candidates with live counts under their
keycaps, then the result), the answer to /continue, and the post that announces its end. The
words are the phrases' (bot/platforms/phrases/voting.py) in Discord's markdown."""

from __future__ import annotations

from bot.core.views import ContinueResult, RoundResult, RoundView
from bot.i18n import Translator
from bot.platforms.discord._markdown import LIMIT, MARKDOWN, text
from bot.platforms.phrases import voting

__all__ = ["LIMIT", "announcement", "continued", "round_message", "round_name", "text"]


def round_message(t: Translator, view: RoundView, result: RoundResult | None = None) -> str:
    """The one message that shows a round: candidates with live counts, then the result.
    Candidate texts are shortened only if all of them together would pass the limit."""
    hint = MARKDOWN.vote_hint(t, view)
    shown = voting.round_text(t, MARKDOWN, view, result, hint=hint, live=True, limit=LIMIT)
    return shown[:LIMIT]


def round_name(t: Translator, round_id: int) -> str:
    """The round's name as its message's heading shows it (how a message is known as one)."""
    return voting.round_name(t, MARKDOWN, round_id)


def continued(t: Translator, result: ContinueResult) -> str:
    """The answer to /continue (the round message itself is posted or edited aside)."""
    if result.opened:
        said = t.gettext(
            "🗳️ Round {id} is open: vote with the reactions on the message below.",
            id=result.view.id,
        )
    else:
        said = voting.added(t, result)
    return said + voting.fewer_note(t, MARKDOWN, result)


def announcement(t: Translator, result: RoundResult) -> str:
    """The post that announces the end of a round, with the winning line."""
    return voting.ended(t, MARKDOWN, result)
