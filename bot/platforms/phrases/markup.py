"""What a platform supplies to the phrases: its markup. Each platform implements `Markup` once
(Telegram's HTML, Discord's markdown, the terminal's plain text); the sentences themselves are
worded once, in this package, and carry no markup of their own."""

from __future__ import annotations

from typing import Protocol

from bot.core.views import RoundView
from bot.i18n import Translator
from bot.platforms.phrases.common import in_about


class Markup(Protocol):
    """How a platform marks text up. `text`, `title`, `quote` and `code` take raw text (what a
    member or the writer wrote) and make it safe; `bold`, `italic`, `small` and `item` take
    text already made safe."""

    sep: str  # between the parts of a detail line or a tally: " · " or ", "
    between: str  # between a round's candidates: a line end, or a blank line

    def text(self, raw: str) -> str:
        """Member or writer text, shown as written (escaped for the platform)."""
        ...

    def bold(self, safe: str) -> str: ...

    def italic(self, safe: str) -> str: ...

    def small(self, safe: str) -> str:
        """A detail line under an item (Discord's "-# " line; italic or bracketed elsewhere)."""
        ...

    def title(self, raw: str) -> str:
        """A story's or novel's name, standing out (bold; quoted where there is no bold)."""
        ...

    def quote(self, raw: str) -> str:
        """A whole line of the story, quoted on a line of its own."""
        ...

    def code(self, raw: str) -> str: ...

    def item(self, safe: str) -> str:
        """One row under a heading (a terminal indents it)."""
        ...

    def closes(self, t: Translator, view: RoundView) -> str:
        """When the vote closes, as the platform can say it ("in about 2 minutes", or a
        timestamp each reader's client shows in their own clock); '' when unknown."""
        ...

    def vote_hint(self, t: Translator, view: RoundView) -> str:
        """How to vote here (buttons, reactions, typing), for the answer to /round."""
        ...


class Styled:
    """A `Markup` made of format strings ("{}" is the text): a platform names the styles it has
    (bold, italic, small, title, quote, code; small print is italic and a title bold unless
    named), and overrides its escaping and its widget's words."""

    sep = " · "
    between = "\n"

    def __init__(self, **styles: str) -> None:
        self.styles = styles

    def escape(self, raw: str) -> str:
        return raw

    def _style(self, name: str, safe: str, default: str = "{}") -> str:
        return self.styles.get(name, default).format(safe)

    def text(self, raw: str) -> str:
        return self.escape(raw)

    def bold(self, safe: str) -> str:
        return self._style("bold", safe)

    def italic(self, safe: str) -> str:
        return self._style("italic", safe)

    def small(self, safe: str) -> str:
        return self._style("small", safe, self.styles.get("italic", "{}"))

    def title(self, raw: str) -> str:
        return self._style("title", self.escape(raw), self.styles.get("bold", "{}"))

    def quote(self, raw: str) -> str:
        return self._style("quote", self.escape(raw), "“{}”")

    def code(self, raw: str) -> str:
        return self._style("code", self.escape(raw))

    def item(self, safe: str) -> str:
        return safe

    def closes(self, t: Translator, view: RoundView) -> str:
        return in_about(t, view.seconds_left)

    def vote_hint(self, t: Translator, view: RoundView) -> str:
        return ""
