"""Small words every phrase uses: a round's status, how it ended, vote counts, a clipped quote,
the note when the writer had fewer ideas. Plain text in the reader's language."""

from __future__ import annotations

from bot.core.records import RoundStatus
from bot.i18n import N_, Translator

STATUSES: dict[RoundStatus, str] = {
    "generating": N_("the writer is writing…"),
    "voting": N_("voting"),
    "closed": N_("closed"),
    "cancelled": N_("cancelled"),
}
REASONS = {
    "deadline": N_("deadline"),
    "moderator": N_("moderator"),
    "quorum": N_("quorum"),
    "cancelled": N_("cancelled"),
    "story ended": N_("story ended"),
    "writer unavailable": N_("writer unavailable"),
    "interrupted": N_("interrupted"),
}

# How much of a line a short notice quotes (a removed line, say).
QUOTE_CHARS = 60


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """The start of `text`, with "…" when it was cut, so nobody reads a cut line as whole."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def votes(t: Translator, n: int) -> str:
    return t.ngettext("{n} vote", "{n} votes", n)


def status(t: Translator, value: RoundStatus) -> str:
    return t.gettext(STATUSES[value])


def reason(t: Translator, code: str) -> str:
    """How a round ended ("deadline", "moderator, no votes", ...) in words."""
    base, _, rest = code.partition(", ")
    said = t.gettext(REASONS.get(base, base))
    return t.gettext("{reason}, no votes", reason=said) if rest == "no votes" else said


def time_left(t: Translator, seconds: float) -> str:
    return t.gettext("{time} left", time=t.duration(max(1.0, seconds)))


def in_about(t: Translator, seconds: float | None) -> str:
    """When something happens, from now: "in about 2 minutes" ('' when unknown)."""
    if seconds is None:
        return ""
    return t.gettext("in about {time}", time=t.duration(max(1.0, seconds)))


def fewer(t: Translator, ideas: int) -> str:
    """When the writer had fewer distinct ideas than were asked for."""
    return t.ngettext(
        "The writer had only {n} new idea this time; a higher temperature gives more.",
        "The writer had only {n} new ideas this time; a higher temperature gives more.",
        ideas,
    )
