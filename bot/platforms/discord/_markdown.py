"""Discord's markdown as the phrases' markup: member text escaped, "-# " small print, quotes,
relative timestamps each member's client shows in their own clock and language."""

from __future__ import annotations

from discord.utils import escape_markdown

from bot.core.keycaps import keycap
from bot.core.views import RoundView
from bot.i18n import Translator
from bot.platforms.phrases.markup import Styled

LIMIT = 2000  # Discord's longest message


def text(raw: str) -> str:
    """Member-written text shown as written, not as markdown."""
    return escape_markdown(raw, as_needed=True)


class Markdown(Styled):
    """The phrases' markup on Discord ("-# " small print: the phrases put it at a line start)."""

    def escape(self, raw: str) -> str:
        return text(raw)

    def closes(self, t: Translator, view: RoundView) -> str:
        deadline = view.round.deadline
        return "" if deadline is None else f"<t:{int(deadline)}:R>"

    def vote_hint(self, t: Translator, view: RoundView) -> str:
        """Reactions on the round message: the one widget a round has on Discord."""
        return t.gettext(
            "React with {first}–{last} to vote: one vote each, change it any time. "
            "/continue adds candidates.",
            first=keycap(1),
            last=keycap(len(view.candidates)),
        )


MARKDOWN = Markdown(bold="**{}**", italic="*{}*", small="-# {}", quote="> {}", code="`{}`")
