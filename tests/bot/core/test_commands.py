"""Text command parsing and routing, as the console and Telegram use it."""

from __future__ import annotations

import pytest

from bot.core.commands import parse_continue, split_command
from bot.core.errors import RelayError
from bot.core.registry import COMMANDS
from bot.core.views import ContinueResult, Help, LineAdded, StoryStarted
from tests.bot.conftest import ALICE, CHAT, World


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
    assert parse_continue(args) == expected


def test_command_table_has_no_duplicates() -> None:
    """Every usage in the help table is distinct."""
    usages = [command.usage for command in COMMANDS]
    assert len(usages) == len(set(usages))


async def test_router_runs_a_round(world: World) -> None:
    """Text commands reach the core and return its views."""
    assert isinstance(await world.router.handle(CHAT, ALICE, "/help"), Help)
    assert isinstance(await world.router.handle(CHAT, ALICE, "/story new Dragon"), StoryStarted)
    assert isinstance(await world.router.handle(CHAT, ALICE, "/write Once."), LineAdded)
    result = await world.router.handle(CHAT, ALICE, "/continue dragon 120")
    assert isinstance(result, ContinueResult) and result.view.candidates


async def test_unknown_command_is_refused(world: World) -> None:
    """An unknown command gets a hint, not a crash."""
    with pytest.raises(RelayError, match="Unknown command /dance"):
        await world.router.handle(CHAT, ALICE, "/dance")
