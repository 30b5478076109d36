"""The router, the one way into the core: commands and votes run as one core call each, and
the command table's moderators-only entries refuse members."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.errors import NotAllowed, RelayError
from bot.core.registry import COMMANDS
from bot.core.views import (
    ContinueResult,
    Help,
    LineAdded,
    LineRemoved,
    StoryRenamed,
    StoryStarted,
)
from tests.bot.conftest import ALICE, BOB, CHAT, MOD, World, start_story


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


@pytest.mark.parametrize("command", ["/undo", "/story end", "/round close", "/round cancel"])
async def test_moderator_commands_refuse_members(world: World, command: str) -> None:
    """Members without moderator rights are refused, and nothing changes."""
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    with pytest.raises(NotAllowed, match="Only moderators"):
        await world.router.handle(CHAT, BOB, command)
    assert (await world.relay.current_round(CHAT)).round.status == "voting"
    assert (await world.relay.show_story(CHAT)).total_lines == 2


async def test_configured_moderator_ids_count(world: World) -> None:
    """Ids listed in relay.moderators are moderators on their platform."""
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, moderators=("console:bob",))
    await start_story(world, 1)
    removed = await world.router.handle(CHAT, BOB, "/undo")
    assert isinstance(removed, LineRemoved) and removed.line.text == "Line 1."


async def test_taps_and_reactions_vote_through_the_router(world: World) -> None:
    """A tap toggles the member's vote; a reaction taken off withdraws it only while it is
    still for that candidate."""
    await start_story(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    round_id = opened.view.id
    first = await world.router.tap(CHAT, BOB, round_id, 2)
    assert (first.change.previous, first.change.current) == (None, 2)
    again = await world.router.tap(CHAT, BOB, round_id, 2)
    assert (again.change.previous, again.change.current) == (2, None)
    await world.router.react(CHAT, ALICE, round_id, 1, added=True)
    await world.router.react(CHAT, ALICE, round_id, 3, added=True)  # the vote moves to 3
    assert await world.router.react(CHAT, ALICE, round_id, 1, added=False) is None
    gone = await world.router.react(CHAT, ALICE, round_id, 3, added=False)
    assert gone is not None and gone.view.total_votes == 0


async def test_story_rename_is_for_moderators(world: World) -> None:
    """/story rename gives the open story a new title; members are refused."""
    await start_story(world)
    with pytest.raises(NotAllowed, match="Only moderators can rename"):
        await world.router.handle(CHAT, ALICE, "/story rename Nightfall")
    renamed = await world.router.handle(CHAT, MOD, "/story rename The  Long Night")
    assert isinstance(renamed, StoryRenamed)
    assert (renamed.old_title, renamed.story.title) == ("Dragon", "The Long Night")
    assert (await world.relay.show_story(CHAT)).story.title == "The Long Night"


async def test_settings_show_for_anyone_change_for_moderators(world: World) -> None:
    """/settings shows the chat's settings to anyone; /settings set is for moderators."""
    shown = await world.router.handle(CHAT, ALICE, "/settings")
    assert shown == await world.relay.settings(CHAT)
    with pytest.raises(NotAllowed, match="Only moderators can change settings"):
        await world.router.handle(CHAT, ALICE, "/settings set candidates 4")
    changed = await world.router.handle(CHAT, MOD, "/settings set candidates 4")
    assert dataclasses.replace(shown, candidates=4, settings=changed.settings) == changed


async def test_an_update_delivered_twice_is_new_once(world: World) -> None:
    """first_delivery: True for an update's first delivery, False for the same one again; the
    platform and the id together name it."""
    assert await world.router.first_delivery("telegram", 5)
    assert not await world.router.first_delivery("telegram", 5)
    assert await world.router.first_delivery("discord", 5)
