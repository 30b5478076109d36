"""How core results look in a terminal: the phrases (bot/platforms/phrases) as plain text in the
chat's language — no markup, titles in quotes, rows indented under their heading."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.registry import Result
from bot.core.views import Help, ModelView, RoundResult, RoundView, TrainingNews
from bot.i18n import N_, Translator
from bot.platforms import phrases
from bot.platforms.phrases.markup import Styled

# The console's own commands, beside the command table's.
CONSOLE_COMMANDS = [
    ("/as <name>", N_("speak as another member (console only)")),
    ("/quit", N_("leave the console")),
]
# An emoji with a variation selector (✍️, 🗳️) is drawn two cells wide but counted as one by
# most terminals: a second space keeps the text after it from running into it.
_NARROW_EMOJI = re.compile(r"^( *[^\s\w]\ufe0f) ", re.MULTILINE)


class Terminal(Styled):
    """The phrases' markup in a terminal: plain text, names in quotes, rows indented."""

    sep = ", "

    def item(self, safe: str) -> str:
        """Indented under its heading; its further lines a little more."""
        first, *rest = safe.split("\n")
        return "\n".join([f"  {first}", *(f"    {row}" for row in rest)])

    def closes(self, t: Translator, view: RoundView) -> str:
        return ""  # printed once: the heading says how long is left

    def vote_hint(self, t: Translator, view: RoundView) -> str:
        return t.gettext("Vote with /vote <n> or by typing the emoji.")


TERMINAL = Terminal(small="({})", title="“{}”")


def render(t: Translator, outcome: Result) -> str:
    """Any command result as terminal text (the end of a round is announced: `result`)."""
    match outcome:
        case RoundResult():
            return ""  # announced by ConsolePlatform.round_closed
        case Help(commands):
            said = phrases.answer(t, TERMINAL, Help([*commands, *CONSOLE_COMMANDS]))
        case ModelView(picture=picture) if picture and Path(picture).is_file():
            curves = TERMINAL.item(t.gettext("loss curves: {path}", path=picture))
            said = phrases.answer(t, TERMINAL, outcome) + "\n" + curves
        case _:
            said = phrases.answer(t, TERMINAL, outcome)
    return _lay_out(said)


def result(t: Translator, outcome: RoundResult) -> str:
    """How a round ended (announced)."""
    return _lay_out(phrases.voting.ended(t, TERMINAL, outcome))


def training(t: Translator, news: TrainingNews) -> str:
    """A fine-tune ended (announced)."""
    return _lay_out(phrases.training(t, TERMINAL, news))


def _lay_out(text: str) -> str:
    return _NARROW_EMOJI.sub(r"\1  ", text)
