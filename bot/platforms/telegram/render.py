"""How command results look on Telegram: the phrases (bot/platforms/phrases) in its HTML markup,
split at Telegram's 4096-character limit, and the command menu in each language. A round's own
messages and keyboard: render_round.py."""

from __future__ import annotations

from telegram import BotCommand

from bot.core.registry import COMMANDS, Result, command_words
from bot.core.views import TrainingNews
from bot.i18n import Translator
from bot.platforms import phrases
from bot.platforms.telegram._html import HTML, MAX_MESSAGE, PARSE_MODE, esc, split

__all__ = ["MAX_MESSAGE", "PARSE_MODE", "esc", "split"]  # re-exported: render.esc(), ...


def render(t: Translator, outcome: Result) -> str:
    """Any command result as HTML (a round's own messages and files are sent elsewhere)."""
    return phrases.answer(t, HTML, outcome)


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (announced to the chat)."""
    return phrases.training(t, HTML, news)


def refusal(t: Translator, message: str, params: dict[str, object]) -> str:
    """A RelayError, in the reader's language (HTML)."""
    return phrases.refusal(t, HTML, message, params)


def bot_commands(t: Translator) -> list[BotCommand]:
    """The command menu in one language, from the command table: one entry per command word,
    its subcommands in the description."""
    grouped: dict[str, list[str]] = {name: [] for name in command_words()}
    for command in COMMANDS:
        rest = command.usage.partition(" ")[2]
        what = t.gettext(command.help).rstrip(".")
        grouped[command.name].append(f"{rest}: {what}" if rest else what)
    return [BotCommand(name, " · ".join(parts)[:256]) for name, parts in grouped.items()]
