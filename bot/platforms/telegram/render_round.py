"""How a round looks on Telegram: the round message (its candidates and keycap keyboard with the
live counts), a candidate's own message, the answers to taps, the end of a round. The words are
the phrases' (bot/platforms/phrases/voting.py) in HTML; here are the keyboard, its callback data
and the hints that only Telegram's buttons need."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.keycaps import keycap
from bot.core.views import CandidateView, ContinueResult, RoundResult, RoundView, VoteResult
from bot.i18n import Translator
from bot.platforms.phrases import voting
from bot.platforms.telegram._html import HTML, MAX_MESSAGE, visible_length

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


def _tap_hint(t: Translator, thumbs: bool = False) -> str:
    """How to vote with the keyboard (and, in the message-per-candidate layout, with 👍)."""
    if thumbs:
        return t.gettext(
            "Tap a number to vote, tap it again to take your vote back; a 👍 on a candidate "
            "above counts too."
        )
    return t.gettext("Tap a number to vote, tap it again to take your vote back.")


def candidate(t: Translator, item: CandidateView) -> str:
    """A candidate's own message (message-per-candidate layout; its count is on its button)."""
    return voting.candidate(t, HTML, item, counts=False)


def round_header(t: Translator, view: RoundView) -> str:
    """The round message above the keyboard (message-per-candidate layout)."""
    hint = voting.footer(t, HTML, view, _tap_hint(t, thumbs=True), live=True)
    return f"{voting.heading(t, HTML, view, live=True)}\n{hint}"


def round_message(t: Translator, view: RoundView, outcome: RoundResult | None = None) -> str:
    """The one round message: all its candidates above the keyboard (which shows the counts
    while it is open); once it ended, with the final counts and the outcome. Candidate texts
    are shortened only when all of them together would pass Telegram's limit."""
    return voting.round_text(
        t,
        HTML,
        view,
        outcome,
        hint=_tap_hint(t),
        counts=outcome is not None,
        live=True,
        limit=MAX_MESSAGE,
        length=visible_length,
    )


def round_added(t: Translator, outcome: ContinueResult) -> str:
    """The answer to a /continue that added candidates to the open round's message (above)."""
    return voting.added(t, outcome) + " ⬆️" + fewer(t, outcome)


def fewer(t: Translator, outcome: ContinueResult) -> str:
    """A note when the writer had fewer distinct ideas than were asked for ('' otherwise)."""
    return voting.fewer_note(t, HTML, outcome)


def round_moved(t: Translator, view: RoundView) -> str:
    """The old round message once more candidates joined and the round was posted again."""
    return t.gettext(
        "🗳️ Round {id}: more candidates joined; the vote continues below ⬇️", id=view.id
    )


def vote_answer(t: Translator, vote: VoteResult) -> str:
    """The answer to a tap (plain text: callback answers have no parse mode)."""
    return voting.vote_said(vote, t)


def result(t: Translator, outcome: RoundResult) -> str:
    """How a round ended (the round message's last part, or a message of its own)."""
    return voting.ended(t, HTML, outcome)


def winner_line(t: Translator, outcome: RoundResult) -> str:
    """The winner posted as the story's new line."""
    return voting.winner_post(t, HTML, outcome)
