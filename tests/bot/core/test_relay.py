"""The relay rules, checked against a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.core.errors import NotAllowed, RelayError
from bot.core.router import Upload
from tests.bot.conftest import ALICE, BOB, CAROL, CHAT, MOD, World


async def start(world: World, lines: int = 2) -> None:
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    for i in range(lines):
        await world.relay.write(CHAT, [ALICE, BOB][i % 2], f"Line {i + 1}.")


async def test_new_story_refused_while_one_is_open(world: World) -> None:
    """A chat has one story at a time."""
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    with pytest.raises(RelayError, match="already has a story"):
        await world.relay.new_story(CHAT, BOB, "Castle")


async def test_lines_are_credited_in_order(world: World) -> None:
    """/write appends the member's line with their name."""
    await start(world)
    view = await world.relay.show_story(CHAT)
    assert [(x.position, x.author_name, x.text) for x in view.lines] == [
        (1, "Alice", "Line 1."),
        (2, "Bob", "Line 2."),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
async def test_empty_line_refused(world: World, text: str) -> None:
    """An empty /write changes nothing."""
    await start(world, 0)
    with pytest.raises(RelayError, match="empty"):
        await world.relay.write(CHAT, ALICE, text)
    assert (await world.relay.show_story(CHAT)).total_lines == 0


async def test_line_over_limit_refused(world: World) -> None:
    """A line longer than relay.max_line_chars is refused with the limit named."""
    await start(world, 0)
    with pytest.raises(RelayError, match="limit is 600"):
        await world.relay.write(CHAT, ALICE, "x" * 601)
    assert (await world.relay.show_story(CHAT)).total_lines == 0


async def test_continue_opens_a_voting_round_with_candidates(world: World) -> None:
    """/continue asks the writer for N candidates and arms the deadline."""
    await start(world)
    result = await world.relay.continue_story(CHAT, ALICE, "dragon", 120)
    assert result.opened and result.added == [1, 2, 3]
    assert result.view.round.status == "voting"
    assert world.timers.armed[result.view.id] == world.clock.now() + 120
    request = world.writer.requests[0]
    assert request.keyword == "dragon" and request.length == 120
    assert request.context == "Line 1.\nLine 2.\n"


async def test_second_continue_adds_candidates_to_the_same_round(world: World) -> None:
    """Other members' /continue join the open round, up to 9 candidates."""
    await start(world)
    first = await world.relay.continue_story(CHAT, ALICE, "dragon", 120)
    second = await world.relay.continue_story(CHAT, BOB, "castle")
    assert second.view.id == first.view.id and not second.opened
    assert second.added == [4, 5, 6]
    await world.relay.continue_story(CHAT, CAROL)
    with pytest.raises(RelayError, match="already has 9 candidates"):
        await world.relay.continue_story(CHAT, ALICE)


async def test_continue_while_generating_is_refused(world: World) -> None:
    """While the writer is still writing a round, another /continue is told to wait."""
    await start(world)
    world.writer.gate = asyncio.Event()
    first = asyncio.create_task(world.relay.continue_story(CHAT, ALICE))
    await asyncio.sleep(0.05)
    with pytest.raises(RelayError, match="still writing"):
        await world.relay.continue_story(CHAT, BOB)
    world.writer.gate.set()
    assert (await first).view.round.status == "voting"


async def test_votes_move_and_are_removed(world: World) -> None:
    """One vote per member: voting again moves it, /unvote removes it."""
    await start(world)
    await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, ALICE, 1)
    await world.relay.vote(CHAT, BOB, 1)
    moved = await world.relay.vote(CHAT, BOB, 2)
    assert (moved.change.previous, moved.change.current) == (1, 2)
    assert [c.votes for c in moved.view.candidates] == [1, 1, 0]
    removed = await world.relay.unvote(CHAT, ALICE)
    assert removed.change.current is None
    assert removed.view.total_votes == 1


async def test_vote_for_missing_candidate_refused(world: World) -> None:
    """A vote for candidate 7 of 3 is refused and counts nothing."""
    await start(world)
    await world.relay.continue_story(CHAT, ALICE)
    with pytest.raises(RelayError, match="no candidate 7"):
        await world.relay.vote(CHAT, BOB, 7)
    assert (await world.relay.current_round(CHAT)).total_votes == 0


async def test_close_adds_winner_credited_to_the_writer(world: World) -> None:
    """The most-voted candidate becomes the story's last line, by the writer."""
    await start(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, ALICE, 2)
    await world.relay.vote(CHAT, BOB, 2)
    await world.relay.vote(CHAT, CAROL, 3)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2
    assert result.line is not None and result.line.kind == "ai"
    story = await world.relay.show_story(CHAT)
    assert story.lines[-1].text == opened.view.candidates[1].text
    assert story.lines[-1].author_name == "the writer"
    assert opened.view.id not in world.timers.armed


async def test_vote_after_close_refused(world: World) -> None:
    """Once a round has closed, a vote on it is refused."""
    await start(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.close_round(CHAT, MOD)
    with pytest.raises(RelayError, match="closed"):
        await world.relay.vote(CHAT, BOB, 1, round_id=opened.view.id)


async def test_tie_goes_to_the_writers_score_then_order(world: World) -> None:
    """Equal votes: the higher mean log-probability wins; equal scores: the earlier one."""
    await start(world)
    world.writer.scores = [-2.0, -1.0, -1.0]
    await world.relay.continue_story(CHAT, ALICE)
    for actor, ordinal in ((ALICE, 1), (BOB, 2), (CAROL, 3)):
        await world.relay.vote(CHAT, actor, ordinal)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2


async def test_no_votes_skips_by_default(world: World) -> None:
    """A round nobody voted in adds nothing (relay.no_votes = "skip")."""
    await start(world)
    await world.relay.continue_story(CHAT, ALICE)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is None and result.line is None
    assert (await world.relay.show_story(CHAT)).total_lines == 2


async def test_no_votes_best_score_setting(world: World) -> None:
    """With no_votes = "best_score" the writer's favourite joins the story."""
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, no_votes="best_score")
    await start(world)
    world.writer.scores = [-3.0, -0.5, -1.0]
    await world.relay.continue_story(CHAT, ALICE)
    result = await world.relay.close_round(CHAT, MOD)
    assert result.winner is not None and result.winner.ordinal == 2


async def test_deadline_closes_the_round(world: World) -> None:
    """close_due closes a round whose deadline passed and reports its chat."""
    await start(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 3)
    assert await world.relay.close_due(opened.view.id) is None  # too early: re-armed
    world.clock.t += 121
    closed = await world.relay.close_due(opened.view.id)
    assert closed is not None
    chat, result = closed
    assert chat.external_id == CHAT.external_id and result.winner is not None
    assert result.reason == "deadline" and result.winner.ordinal == 3
    assert await world.relay.close_due(opened.view.id) is None  # only once


async def test_quorum_closes_early(world: World) -> None:
    """With relay.quorum = 2 the second vote closes the round."""
    world.relay.ctx.rules = dataclasses.replace(world.relay.ctx.rules, quorum=2)
    await start(world)
    await world.relay.continue_story(CHAT, ALICE)
    first = await world.relay.vote(CHAT, ALICE, 1)
    assert first.closed is None
    second = await world.relay.vote(CHAT, BOB, 1)
    assert second.closed is not None and second.closed.reason == "quorum"


async def test_writer_failure_keeps_the_open_round(world: World) -> None:
    """If the writer dies while adding candidates, the voting round and its votes stay."""
    await start(world)
    await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 1)
    world.writer.fail = True
    with pytest.raises(RelayError, match="try /continue again"):
        await world.relay.continue_story(CHAT, CAROL)
    view = await world.relay.current_round(CHAT)
    assert view.round.status == "voting" and view.total_votes == 1 and len(view.candidates) == 3


async def test_writer_failure_on_a_new_round_leaves_no_round(world: World) -> None:
    """A first /continue whose writer fails tells the member to retry; the next one works."""
    await start(world)
    world.writer.fail = True
    with pytest.raises(RelayError, match="try /continue again"):
        await world.relay.continue_story(CHAT, ALICE)
    world.writer.fail = False
    assert (await world.relay.continue_story(CHAT, ALICE)).opened


async def test_undo_keeps_history(world: World) -> None:
    """/undo hides the last line but keeps it in the table; on an empty story it refuses."""
    await start(world, 1)
    removed = await world.relay.undo(CHAT, MOD)
    assert removed.text == "Line 1."
    with pytest.raises(RelayError, match="no lines to undo"):
        await world.relay.undo(CHAT, MOD)
    story = await world.relay.show_story(CHAT)
    everything = await world.store.lines(story.story.id, include_removed=True)
    assert [line.removed for line in everything] == [True]


async def test_recover_rearms_open_rounds(world: World) -> None:
    """At start-up every voting round's deadline is armed again."""
    await start(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    world.timers.armed.clear()
    assert await world.relay.recover() == []
    assert world.timers.armed == {opened.view.id: opened.view.round.deadline}


async def test_recover_closes_overdue_rounds_at_once(world: World) -> None:
    """A round whose deadline passed while the bot was down closes at start-up, votes counted."""
    await start(world)
    opened = await world.relay.continue_story(CHAT, ALICE)
    await world.relay.vote(CHAT, BOB, 2)
    world.clock.t += 3600
    ((chat, result),) = await world.relay.recover()
    assert chat.external_id == CHAT.external_id
    assert result.view.id == opened.view.id and result.winner is not None
    assert result.winner.ordinal == 2 and world.timers.armed == {}


async def test_settings_change_and_validation(world: World) -> None:
    """Moderators change temperature/candidates/vote time per chat; bad values are refused."""
    view = await world.relay.change_setting(CHAT, "candidates", "4")
    assert view.candidates == 4
    with pytest.raises(RelayError, match="temperature must be 0 to 2"):
        await world.relay.change_setting(CHAT, "temperature", "9")
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, ALICE, "/settings set vote_time 60")
    await start(world)
    result = await world.relay.continue_story(CHAT, ALICE)
    assert len(result.added) == 4


async def test_export_contains_the_whole_story(world: World) -> None:
    """/story export gives every line; markdown credits the authors."""
    await start(world, 3)
    txt = await world.relay.export_story(CHAT, "txt")
    assert txt.filename == "Dragon.txt"
    assert txt.content == "Dragon\n\nLine 1.\n\nLine 2.\n\nLine 3.\n"
    md = await world.relay.export_story(CHAT, "md")
    assert md.content.startswith("# Dragon") and "- Alice: 2 lines" in md.content


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("book.txt", b"\x00\x01\x02binary" * 100, "binary"),
        ("book.txt", b"\xff\xfe\xfa not utf-8" * 100, "not UTF-8"),
        ("book.pdf", b"text" * 100, ".txt"),
        ("book.txt", b"short", "too short"),
    ],
)
async def test_bad_novels_are_refused(world: World, name: str, data: bytes, message: str) -> None:
    """Binary, non-UTF-8, non-.txt and tiny uploads get a clear refusal and store nothing."""
    with pytest.raises(RelayError, match=message):
        await world.relay.add_novel(CHAT, MOD, name, data)
    assert (await world.relay.list_novels(CHAT)).novels == []


async def test_oversized_novel_is_refused(world: World) -> None:
    """A file over novels.max_bytes is refused with the limit named."""
    world.relay.ctx.novels = dataclasses.replace(world.relay.ctx.novels, max_bytes=1000)
    with pytest.raises(RelayError, match="1,001 bytes; the limit is 1,000 bytes"):
        await world.relay.add_novel(CHAT, MOD, "big.txt", b"a" * 1001)


async def test_novel_added_once_and_removed(world: World) -> None:
    """A good novel is queued; the same file again is a duplicate; remove drops it."""
    text = "옛날 옛적에 호랑이가 살았다. ".encode() * 10
    listed = await world.relay.add_novel(CHAT, MOD, "tiger.txt", text)
    assert [(n.title, n.status) for n in listed.novels] == [("tiger", "queued")]
    with pytest.raises(RelayError, match="already"):
        await world.relay.add_novel(CHAT, MOD, "tiger.txt", text)
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, ALICE, "/novel add", Upload.of("other.txt", text + b"!"))
    after = await world.relay.remove_novel(CHAT, MOD, listed.novels[0].id)
    assert after.novels == []
