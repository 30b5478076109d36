"""Everything the bot says, in the chat's language: gettext catalogues read with Babel.

The messages are written in English in the code (they are the catalogue's keys, as gettext
does) with named placeholders: `t.gettext("Line {position} added by {name}.", position=3,
name="Ann")`. Each other language is one file, `bot/locales/<code>.po`, made and kept up to date
with Babel (`tools/messages.py` extracts every message and merges it into each catalogue);
tests/bot/test_i18n.py fails when a catalogue lacks a message or drops a placeholder. Numbers,
plurals, times and dates follow the language (Babel's CLDR data): "3 votes" / "3표",
"2 minutes" / "2분".
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.core.errors import N_
from bot.korean import fix_particles

__all__ = ["N_", "SOURCE", "Translator", "languages", "supported", "translator"]

LOCALES = Path(__file__).parent / "locales"
SOURCE = "en"  # the language the messages are written in


def languages() -> tuple[str, ...]:
    """The languages the bot speaks: English and one per catalogue file."""
    return (SOURCE, *sorted(path.stem for path in LOCALES.glob("*.po")))


def supported(code: str | None) -> str | None:
    """A platform's language code ("ko", "ko-KR", "en_US") as one the bot speaks, or None."""
    if not code:
        return None
    short = code.replace("_", "-").split("-")[0].lower()
    return short if short in languages() else None


class Translator:
    """The messages of one language."""

    def __init__(
        self,
        language: str,
        messages: dict[str, tuple[str, ...]],
        plural: Callable[[int], int],
    ) -> None:
        self.language = language
        self._messages = messages
        self._plural = plural

    def gettext(self, message: str, **params: Any) -> str:
        """The message in this language, its {placeholders} filled."""
        found = self._messages.get(message)
        text = found[0] if found and found[0] else message
        return self._polish(text.format(**params)) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        """The form for n ("{n} vote" / "{n} votes"; one form in Korean), filled with n."""
        forms = self._messages.get(singular)
        if forms and all(forms):
            text = forms[min(self._plural(n), len(forms) - 1)]
        else:
            text = singular if n == 1 else plural
        return self._polish(text.format(n=self.number(n), **params))

    def _polish(self, text: str) -> str:
        """What a filled-in message needs in this language: Korean particles that fit the
        words placed before them (bot/korean.py)."""
        return fix_particles(text) if self.language == "ko" else text

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.language)

    def duration(self, seconds: float) -> str:
        """About how long: "2 minutes", "2분"."""
        return format_timedelta(round(seconds), threshold=1.1, locale=self.language)

    @staticmethod
    def when(at: float | None) -> str:
        """A moment, the same for everyone: ISO date and time in UTC."""
        return "?" if at is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


@functools.cache
def translator(language: str) -> Translator:
    """The translator of a language the bot speaks (English for any other)."""
    if language == SOURCE or not (LOCALES / f"{language}.po").is_file():
        return Translator(SOURCE, {}, lambda n: 0 if n == 1 else 1)
    with (LOCALES / f"{language}.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    messages: dict[str, tuple[str, ...]] = {}
    for entry in catalog:
        if not entry.id or entry.fuzzy:
            continue
        key = entry.id if isinstance(entry.id, str) else entry.id[0]
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        messages[key] = tuple(str(text or "") for text in strings)
    rule = Locale.parse(language).plural_form
    # A .po file's forms follow CLDR's categories of the language, in CLDR's order (as Babel
    # writes its Plural-Forms): Korean has one ("other"), English two ("one", "other").
    order = [c for c in ("zero", "one", "two", "few", "many") if c in rule.tags] + ["other"]
    return Translator(language, messages, lambda n: order.index(rule(n)))
