"""The message catalogues: every message the bot says is in every language, whole."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALES, languages, supported, translator
from bot.messages import placeholders, template

TAGS = re.compile(r"</?(?:b|i|code)>|&\w+;")  # the markup Telegram reads


def catalogues() -> list[str]:
    return [code for code in languages() if code != "en"]


def test_korean_is_one_of_the_languages() -> None:
    assert set(languages()) >= {"en", "ko"}
    assert supported("ko-KR") == supported("ko") == "ko" and supported("fr") is None


@pytest.mark.parametrize("code", catalogues())
def test_every_message_is_translated_with_its_placeholders(code: str) -> None:
    """Each message in the code has a translation here, with the same {placeholders} and the
    same markup tags; the catalogue holds nothing the code no longer says."""
    with (LOCALES / f"{code}.po").open("rb") as fh:
        catalog = read_po(fh, locale=code)
    translated = {m.id: m for m in catalog if m.id}
    wanted = {m.id: m for m in template() if m.id}
    missing = [key for key in wanted if key not in translated]
    assert not missing, f"{code}.po lacks {missing[:5]} (run tools/messages.py)"
    assert not set(translated) - set(wanted), f"{code}.po has stale messages"
    for key, entry in translated.items():
        assert not entry.fuzzy, key
        sources = key if isinstance(key, tuple) else (key,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{code}.po: {sources[0]!r} is not translated"
        for string in strings:
            assert placeholders(string) == placeholders(sources[0]), (code, sources[0], string)
            assert sorted(TAGS.findall(string)) == sorted(TAGS.findall(sources[0])), string


def test_plurals_numbers_and_times_follow_the_language() -> None:
    """'3 votes' / '3표'; '2 minutes' / '2분'; grouped numbers."""
    en, ko = translator("en"), translator("ko")
    assert en.ngettext("{n} vote", "{n} votes", 1) == "1 vote"
    assert en.ngettext("{n} vote", "{n} votes", 3) == "3 votes"
    assert ko.ngettext("{n} vote", "{n} votes", 3) == "3표"
    assert (en.duration(125), ko.duration(125)) == ("2 minutes", "2분")
    assert ko.gettext("{time} left", time=ko.duration(120)) == "2분 남음"
    assert ko.number(12345) == en.number(12345) == "12,345"


def test_unknown_languages_speak_english() -> None:
    assert translator("xx").gettext("This list.") == "This list."
    assert translator("ko").gettext("This list.") == "이 목록이에요."
