"""Text command parsing, as the console and Telegram use it."""

from __future__ import annotations

import pytest

from bot.core.text_commands import parse, split_command


def test_split_command_strips_bot_mention() -> None:
    """Telegram's /cmd@botname form is understood."""
    assert split_command("/Continue@relaytale_bot  dragon 120") == ("continue", "dragon 120")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", ("", None)),
        ("120", ("", 120)),
        ("dragon", ("dragon", None)),
        ("dark castle 80", ("dark castle", 80)),
        ("용 120", ("용", 120)),
    ],
)
def test_parse_continue(args: str, expected: tuple[str, int | None]) -> None:
    """A trailing number is the length; the rest is the keyword."""
    _command, values = parse(f"/continue {args}")
    assert (values.get("keyword", ""), values.get("length")) == expected
