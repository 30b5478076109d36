"""Opening rounds as members meet them: /continue opens or joins a round, distinct candidates,
seeds of their own, the story's tail read as configured, and the policy of [writer] in every
request."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.config import WriterConfig
from bot.core.errors import RelayError
from tests.bot.conftest import ALICE, BOB, CAROL, CHAT, World, start_story


async def start(world: World, *lines: str) -> None:
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    for text in lines or ("Line 1.", "Line 2."):
        await world.relay.write(CHAT, ALICE, text)


def seed_range(world: World, index: int) -> range:
    """The seeds request `index` samples with (over-generation included)."""
    request = world.writer.requests[index]
    return range(request.seed, request.seed + request.n * request.overgenerate)


async def test_every_continue_of_a_round_samples_its_own_seeds(world: World) -> None:
    """Three members' /continue in one round never re-draw each other's seeds (before, the
    second request started at seed + n while the first had drawn n * overgenerate)."""
    await start(world)
    for actor in (ALICE, BOB, CAROL):
        await world.relay.continue_story(CHAT, actor)
    drawn = [set(seed_range(world, i)) for i in range(3)]
    assert not drawn[0] & drawn[1] and not drawn[0] & drawn[2] and not drawn[1] & drawn[2]
    assert world.writer.requests[0].overgenerate == WriterConfig().overgenerate > 1


async def test_a_round_never_shows_two_identical_candidates(world: World) -> None:
    """A writer that repeats one idea (temperature 0) gives the round one candidate and the
    member is told it had fewer ideas; asking again for the same idea adds nothing."""
    await start(world)
    world.writer.repeat = "The dragon slept again."
    first = await world.relay.continue_story(CHAT, ALICE)
    assert [c.text for c in first.view.candidates] == ["The dragon slept again."]
    assert first.fewer and first.asked == 3 and first.added == [1]
    with pytest.raises(RelayError, match="already shows"):
        await world.relay.continue_story(CHAT, BOB)
    world.writer.repeat = None
    more = await world.relay.continue_story(CHAT, BOB)
    texts = [c.text for c in more.view.candidates]
    assert len(texts) == 4 == len(set(texts)) and not more.fewer


async def test_candidates_equal_but_for_spacing_count_as_one(world: World) -> None:
    """Two candidates that differ only in whitespace are the same line of the story."""
    await start(world)
    world.writer.repeat = "The  dragon\n slept. "
    first = await world.relay.continue_story(CHAT, ALICE)
    assert [c.text for c in first.view.candidates] == ["The dragon slept."]


async def test_context_chars_is_honoured_beyond_500(world: World) -> None:
    """writer.context_chars = 800 sends the last ~800 characters of the story (the worker used
    to cut every context again to 500)."""
    world.relay.ctx.policy = dataclasses.replace(WriterConfig(), context_chars=800)
    await start(world, *(f"Line {i} " + "word " * 38 for i in range(10)))  # 2,000 characters
    await world.relay.continue_story(CHAT, ALICE)
    context = world.writer.requests[0].context
    assert 800 - 800 // 5 <= len(context) - 1 <= 800  # cut at a word, then a newline
    assert context.endswith("word \n") or context.endswith("word\n")


async def test_the_request_carries_the_whole_generation_policy(world: World) -> None:
    """Every knob of [writer] travels in the request; the engine applies what it is sent."""
    policy = WriterConfig(
        length_slack=2.0, min_length_fraction=0.5, top_k=7, top_p=0.9, repetition_penalty=1.3
    )
    world.relay.ctx.policy = dataclasses.replace(policy, overgenerate=3)
    await start(world)
    await world.relay.continue_story(CHAT, ALICE, "dragon", 100)
    request = world.writer.requests[0]
    assert (request.max_chars, request.min_chars) == (200, 50)
    assert (request.top_k, request.top_p, request.repetition_penalty) == (7, 0.9, 1.3)
    assert request.overgenerate == 3 and request.keyword == "dragon" and request.writer == ""


async def test_keyword_is_cut_to_the_configured_length(world: World) -> None:
    """A long keyword is one line of words, cut to writer.keyword_chars."""
    await start(world)
    await world.relay.continue_story(CHAT, ALICE, "a  very\nlong " + "x" * 80)
    keyword = world.writer.requests[0].keyword
    assert keyword.startswith("a very long x") and len(keyword) == WriterConfig().keyword_chars


async def test_continue_opens_a_voting_round_with_candidates(world: World) -> None:
    """/continue asks the writer for N candidates and arms the deadline."""
    await start_story(world)
    result = await world.relay.continue_story(CHAT, ALICE, "dragon", 120)
    assert result.opened and result.added == [1, 2, 3]
    assert result.view.round.status == "voting"
    assert world.timers.armed[result.view.id] == world.clock.now() + 120
    request = world.writer.requests[0]
    assert request.keyword == "dragon" and request.length == 120
    assert request.context == "Line 1.\nLine 2.\n"


async def test_second_continue_adds_candidates_to_the_same_round(world: World) -> None:
    """Other members' /continue join the open round, up to 9 candidates."""
    await start_story(world)
    first = await world.relay.continue_story(CHAT, ALICE, "dragon", 120)
    second = await world.relay.continue_story(CHAT, BOB, "castle")
    assert second.view.id == first.view.id and not second.opened
    assert second.added == [4, 5, 6]
    await world.relay.continue_story(CHAT, CAROL)
    with pytest.raises(RelayError, match="already has 9 candidates"):
        await world.relay.continue_story(CHAT, ALICE)


async def test_continue_while_generating_is_refused(world: World) -> None:
    """While the writer is still writing a round, another /continue is told to wait."""
    await start_story(world)
    world.writer.gate = asyncio.Event()
    first = asyncio.create_task(world.relay.continue_story(CHAT, ALICE))
    await asyncio.sleep(0.05)
    with pytest.raises(RelayError, match="still writing"):
        await world.relay.continue_story(CHAT, BOB)
    world.writer.gate.set()
    assert (await first).view.round.status == "voting"


async def test_writer_failure_keeps_the_open_round(world: World) -> None:
    """If the writer dies while adding candidates, the voting round and its votes stay."""
    await start_story(world)
    await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 1)
    world.writer.fail = True
    with pytest.raises(RelayError, match="try /continue again"):
        await world.relay.continue_story(CHAT, CAROL)
    view = await world.relay.current_round(CHAT)
    assert view.round.status == "voting" and view.total_votes == 1 and len(view.candidates) == 3


async def test_writer_failure_on_a_new_round_leaves_no_round(world: World) -> None:
    """A first /continue whose writer fails tells the member to retry; the next one works."""
    await start_story(world)
    world.writer.fail = True
    with pytest.raises(RelayError, match="try /continue again"):
        await world.relay.continue_story(CHAT, ALICE)
    world.writer.fail = False
    assert (await world.relay.continue_story(CHAT, ALICE)).opened
