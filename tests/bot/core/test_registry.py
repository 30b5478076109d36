"""The command table drives every surface: text parsing, /help, the README, the menus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.errors import RelayError
from bot.core.registry import COMMANDS, command_words, markdown_table, named
from bot.core.text_commands import parse

ROOT = Path(__file__).resolve().parents[3]
SETTINGS_USAGE = "/settings set <temperature|candidates|vote_time|language> <value>"


@pytest.mark.parametrize(
    ("text", "usage", "args"),
    [
        ("/story", "/story show", {}),
        ("/story new The  Long Night", "/story new <title>", {"title": "The  Long Night"}),
        ("/story export MD", "/story export [txt|md]", {"format": "md"}),
        ("/write One.\nTwo.", "/write <text>", {"text": "One.\nTwo."}),
        ("/continue dark castle 120", "/continue [keyword] [length]",
         {"keyword": "dark castle", "length": 120}),
        ("/continue", "/continue [keyword] [length]", {}),
        ("/vote 2", "/vote <n>", {"n": 2}),
        ("/round", "/round show", {}),
        ("/round close", "/round close", {}),
        ("/settings", "/settings show", {}),
        ("/settings set temperature 0.5", SETTINGS_USAGE, {"name": "temperature", "value": "0.5"}),
        ("/novel", "/novel list", {}),
        ("/novel remove #3", "/novel remove <novel_id>", {"novel_id": 3}),
        ("/start", "/help", {}),
    ],
)  # fmt: skip
def test_text_commands_parse_by_the_table(text: str, usage: str, args: dict[str, object]) -> None:
    """Subcommands, defaults, aliases and typed arguments all come from the table."""
    command, values = parse(text)
    assert command.usage == usage and values == args


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/vote", "Use /vote <n>"),
        ("/vote two", "Give the n as a number"),
        ("/story frobnicate", "Use /story new <title>, /story show"),
        ("/novel remove", "Use /novel remove <novel_id>"),
        ("/dance", "Unknown command /dance"),
    ],
)
def test_bad_text_commands_say_how_to_use_them(text: str, message: str) -> None:
    with pytest.raises(RelayError, match=re.escape(message)):
        parse(text)


def test_every_command_word_and_usage_is_unique() -> None:
    """No two entries share a usage; every word's entries sit together with one default."""
    assert len({c.usage for c in COMMANDS}) == len(COMMANDS)
    for word in command_words():
        entries = named(word)
        assert all(c.sub for c in entries) or len(entries) == 1, word
        if entries[0].sub:
            assert sum(c.default for c in entries) <= 1, word


def test_the_readme_command_table_is_the_registry() -> None:
    """README.md shows exactly the table the registry makes (tools/readme_commands.py)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- commands -->\n(.*?)\n<!-- /commands -->", readme, re.S)
    assert found is not None, "README.md lacks the <!-- commands --> table"
    assert found.group(1) == markdown_table()
