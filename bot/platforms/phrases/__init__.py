"""Everything the bot says in a chat, worded once for every platform, as marked-up pieces.

- markup.py: the `Markup` a platform implements once (escaping, bold, small print, layout, and
  what its widget makes it say differently: how to vote, when a vote closes);
- answers.py: the answer to every command result (`answer`), refusals, training news;
- voting.py: a round — heading, candidates, hints, votes, how it ended, the winning line;
- writer.py: the living writer — fine-tune news, /train's status, /model;
- common.py: small words all of them use (statuses, reasons, vote counts, clipped quotes).

A platform's render module keeps only its Markup, its message limit and its widgets."""

from __future__ import annotations

from bot.platforms.phrases import voting, writer
from bot.platforms.phrases.answers import answer, refusal, training
from bot.platforms.phrases.common import QUOTE_CHARS, clip
from bot.platforms.phrases.markup import Markup

__all__ = [
    "QUOTE_CHARS",
    "Markup",
    "answer",
    "clip",
    "refusal",
    "training",
    "voting",
    "writer",
]
