"""HTML text as Telegram takes it: its markup for the phrases (`HTML`), escaping, the visible
length, splitting at its limit."""

from __future__ import annotations

import html
import re

from telegram.constants import ParseMode

from bot.core.views import RoundView
from bot.i18n import Translator
from bot.platforms.phrases.markup import Styled

PARSE_MODE = ParseMode.HTML
MAX_MESSAGE = 4096  # Telegram's limit on a message's text after entity parsing
_TAG = re.compile(r"<[^>]*>")


def esc(text: str) -> str:
    """Member or writer text made safe for ParseMode.HTML."""
    return html.escape(text, quote=False)


class HtmlMarkup(Styled):
    """The phrases' markup on Telegram (ParseMode.HTML); every tag closes on the line that
    opens it, so `split` cuts between lines."""

    between = "\n\n"  # a blank line between a round's candidates

    def escape(self, raw: str) -> str:
        return esc(raw)

    def vote_hint(self, t: Translator, view: RoundView) -> str:
        """The answer to /round is not the round message: it points there."""
        return esc(t.gettext("Vote with the buttons under the round message, or /vote <n>."))


HTML = HtmlMarkup(bold="<b>{}</b>", italic="<i>{}</i>", code="<code>{}</code>")


def visible_length(text: str) -> int:
    """Length as Telegram counts it: after the HTML is parsed, in UTF-16 code units."""
    plain = html.unescape(_TAG.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def split(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut a rendered text into messages at line ends. Every renderer closes its tags on the
    line that opens them, so each piece is valid HTML; a single line too long for one message
    is sent as plain (escaped) text in pieces."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for row in text.split("\n"):
        row_size = visible_length(row)
        if row_size > limit:
            plain = html.unescape(_TAG.sub("", row))
            rows = [esc(plain[i : i + limit // 2]) for i in range(0, len(plain), limit // 2)]
        else:
            rows = [row]
        for part in rows:
            part_size = visible_length(part)
            if current and size + 1 + part_size > limit:
                pieces.append("\n".join(current))
                current, size = [], 0
            size += part_size + (1 if current else 0)
            current.append(part)
    if current:
        pieces.append("\n".join(current))
    return [p for p in pieces if p.strip()] or [""]
