"""How command results look on Discord: the phrases (bot/platforms/phrases) in its markdown,
in the channel's language (the member's, for a refusal only they see), messages of at most 2000
characters, with the files and pictures a result carries. Pure functions; the adapter decides
where each text goes. A round's message: render_round.py."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.registry import Result
from bot.core.views import (
    ContinueResult,
    ExportFile,
    ModelView,
    RoundResult,
    RoundView,
    TrainingNews,
)
from bot.i18n import N_, Translator
from bot.platforms import phrases
from bot.platforms.discord._markdown import LIMIT, MARKDOWN
from bot.platforms.discord.render_round import announcement, continued, round_message

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


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (posted in the channel)."""
    return phrases.training(t, MARKDOWN, news)


def reply(t: Translator, outcome: Result) -> Reply:
    """The answer to a slash command, by the kind of its result: a round is shown in its own
    message (with the reactions that vote), so its answers point there."""
    match outcome:
        case ContinueResult():
            return Reply(continued(t, outcome))
        case RoundView():
            return Reply(round_message(t, outcome))
        case RoundResult():
            return Reply(announcement(t, outcome))
        case ExportFile():
            return Reply(phrases.answer(t, MARKDOWN, outcome), file=outcome)
        case ModelView():
            return Reply(phrases.answer(t, MARKDOWN, outcome), picture=outcome.picture)
    return Reply(phrases.answer(t, MARKDOWN, outcome))
