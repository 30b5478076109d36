"""bot/platforms/telegram/round_board.py end to end: the round's messages in both layouts, taps and
👍 reactions as votes, the live counts, the end of a round, a restart; the real python-telegram-bot
over HTTP against the fake Bot API server (fake_bot_api.py), the real relay core and a real SQLite
file; only the writer, clock and timers are fakes (helpers.py, conftest.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from bot.core.context import SHOW_GRACE
from bot.core.views import Actor
from bot.platforms.telegram import RoundMessages
from storage import Database
from tests.bot.conftest import FakeTimers
from tests.bot.counting import CountingStore
from tests.bot.platforms.telegram.helpers import (
    ADA,
    ALICE,
    BOB,
    CAROL,
    GROUP,
    GROUP_KEY,
    OTHER_GROUP,
    Setup,
    close_at_deadline,
    round_id_of,
    settle,
    story_with_two_lines,
)
from tests.storage.helpers import WRITER, stored_votes, verdict


def counting_stores() -> tuple[list[CountingStore], Callable[[Database], CountingStore]]:
    """The stores a bot process opens, each counting its calls; and the factory it opens them
    with (Setup.bot's `store`)."""
    stores: list[CountingStore] = []

    def counting(db: Database) -> CountingStore:
        stores.append(CountingStore(db))
        return stores[-1]

    return stores, counting


async def test_group_round_from_story_to_winner(setup: Setup) -> None:
    """Lines from two members, /continue, three voters tap (one moves, one takes back), the
    deadline passes: the winner is in the story and the chat, the round message shows it."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE, "/continue storm 120")
        assert len(candidates) == 3
        assert candidates[0].result["text"].startswith("1️⃣ storm candidate")
        assert setup.buttons(round_message) == ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"]

        assert await setup.tap(ALICE, round_message, 1) == "✅ You vote for 1️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 1", "2️⃣ 0", "3️⃣ 0"])
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        assert await setup.tap(CAROL, round_message, 2) == "✅ You vote for 2️⃣."
        assert await setup.tap(ALICE, round_message, 2) == "🔁 Your vote moved from 1️⃣ to 2️⃣."
        assert await setup.tap(BOB, round_message, 2) == "🗑️ Your vote for 2️⃣ is taken back."
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 2", "3️⃣ 0"])

        mark = len(setup.fake.calls)
        await close_at_deadline(setup, bot, round_id_of(round_message))
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == round_message.result["message_id"]
        assert "reply_markup" not in edit.params  # the keyboard is gone
        assert setup.buttons(round_message) == []
        assert "2️⃣ won" in edit.result["text"] and "line 3" in edit.result["text"]

        winner_text = candidates[1].result["text"].splitlines()[0].removeprefix("2️⃣ ")
        assert any(winner_text in text for text in setup.fake.texts(GROUP["id"], mark))
        story = await bot.relay.show_story(GROUP_KEY)
        assert [(line.kind, line.text) for line in story.lines][-1] == ("ai", winner_text)


async def test_round_and_votes_survive_a_restart(setup: Setup) -> None:
    """A new Application on the same database finds the round, its votes and its message, and
    closes it at its deadline."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE)
        round_id = round_id_of(round_message)
        await setup.tap(ALICE, round_message, 1)
        setup.fake.react(BOB, GROUP, candidates[2].result["message_id"], [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 1", "2️⃣ 0", "3️⃣ 1"])
        found = (await bot.store.place_of_round(round_id)).round  # type: ignore[union-attr]
        assert found is not None and found.deadline is not None
        deadline = found.deadline

    timers = FakeTimers()
    async with setup.bot(timers) as bot:
        assert timers.armed == {round_id: deadline}  # re-armed from the database
        assert await setup.tap(CAROL, round_message, 1) == "✅ You vote for 1️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 2", "2️⃣ 0", "3️⃣ 1"])
        setup.clock.t = deadline - 5
        assert await bot.relay.close_due(round_id) is None  # woken early: still open
        mark = len(setup.fake.calls)
        setup.clock.t = deadline
        closed = await bot.relay.close_due(round_id)
        assert closed is not None
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert "1️⃣ won" in edit.result["text"]
        votes = sorted((v.member_id, v.ordinal) for v in await stored_votes(bot.store, round_id))
        assert votes == [("11", 1), ("12", 3), ("13", 1)]


async def test_button_data_cannot_vote_in_another_round(setup: Setup) -> None:
    """Callback data naming another chat's round, or a button of a replaced round message, is
    refused and changes no vote."""
    async with setup.bot() as bot:
        await setup.say(ADA, "/story new Other", chat=OTHER_GROUP)
        elsewhere, _ = await setup.continue_story(ADA, chat=OTHER_GROUP)
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        forged = f"v:{round_id_of(elsewhere)}:1"
        assert "round is over" in await setup.tap(BOB, round_message, 1, data=forged)
        assert "does nothing" in await setup.tap(BOB, round_message, 1, data="v:1")
        assert await stored_votes(bot.store, round_id_of(round_message)) == []
        assert await stored_votes(bot.store, round_id_of(elsewhere)) == []


async def test_more_candidates_move_the_round_message(setup: Setup) -> None:
    """A second /continue adds candidates 4-6 and posts the round again; the old message loses
    its keyboard and its buttons no longer vote."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        first, _ = await setup.continue_story(ALICE, "/continue storm")
        mark = len(setup.fake.calls)
        second, added = await setup.continue_story(BOB, "/continue castle")
        assert [c.result["text"][:3] for c in added] == ["4️⃣", "5️⃣", "6️⃣"]
        assert len(setup.buttons(second)) == 6
        await setup.fake.wait_for("editMessageText", after=mark)
        assert setup.buttons(first) == []
        setup.fake.messages[(GROUP["id"], first.result["message_id"])]["reply_markup"] = (
            first.params["reply_markup"]
        )  # a client that still shows the old keyboard
        assert "round is over" in await setup.tap(CAROL, first, 1)
        assert await setup.tap(CAROL, second, 5) == "✅ You vote for 5️⃣."
        ref = (await bot.store.place_of_round(round_id_of(second))).round.message_ref  # type: ignore[union-attr]
        posted = RoundMessages.parse(ref)
        assert posted is not None and posted.message_id == second.result["message_id"]
        assert len(posted.candidates) == 6


async def test_thumbs_up_reaction_votes_and_taking_it_back_unvotes(setup: Setup) -> None:
    """👍 on a candidate's message votes for it; removing the 👍 takes the vote back, unless
    the vote has moved on since."""
    async with setup.bot() as bot:
        await story_with_two_lines(setup)
        round_message, candidates = await setup.continue_story(ALICE)
        second = candidates[1].result["message_id"]
        setup.fake.react(CAROL, GROUP, second, [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 1", "3️⃣ 0"])
        setup.fake.react(CAROL, GROUP, second, ["👍"], [])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"])

        setup.fake.react(CAROL, GROUP, second, [], ["👍"])
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 1", "3️⃣ 0"])
        await setup.tap(CAROL, round_message, 3)
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 1"])
        mark = len(setup.fake.calls)
        setup.fake.react(CAROL, GROUP, second, ["👍"], [])
        setup.fake.react(BOB, GROUP, round_message.result["message_id"], [], ["👍"])
        await settle(setup, bot)
        assert setup.fake.sent("editMessageReplyMarkup", mark) == []
        votes = [
            (v.member_id, v.ordinal)
            for v in await stored_votes(bot.store, round_id_of(round_message))
        ]
        assert votes == [("13", 3)]
        assert "message_reaction" in (setup.fake.allowed_updates or [])


async def test_one_message_round_from_continue_to_result(setup: Setup) -> None:
    """By default a round is one message (candidates + live-count buttons): more candidates
    edit it, votes edit its buttons, the end edits it with the result; the winner is posted."""
    async with setup.bot(layout="one_message") as bot:
        await story_with_two_lines(setup)
        mark = len(setup.fake.calls)
        round_message, candidates = await setup.continue_story(ALICE, "/continue storm")
        assert candidates == []  # no message per candidate
        shown = round_message.result["text"]
        assert all(f"storm candidate 101-{i}." in shown for i in range(3))
        assert setup.buttons(round_message) == ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0"]

        added = await setup.say(BOB, "/continue castle")
        assert added.result["text"].startswith("➕ Added 4️⃣, 5️⃣, 6️⃣ to round 1")
        message_id = round_message.result["message_id"]
        edited = setup.fake.messages[(GROUP["id"], message_id)]
        assert (
            "castle candidate 107-0." in edited["text"] and len(setup.buttons(round_message)) == 6
        )
        assert len(setup.fake.sent("sendMessage", mark)) == 2  # the round, and the reply

        assert await setup.tap(CAROL, round_message, 5) == "✅ You vote for 5️⃣."
        await setup.counts_shown(round_message, ["1️⃣ 0", "2️⃣ 0", "3️⃣ 0", "4️⃣ 0", "5️⃣ 1", "6️⃣ 0"])
        mark = len(setup.fake.calls)
        await close_at_deadline(setup, bot, round_id_of(round_message))
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == message_id and setup.buttons(round_message) == []
        assert "5️⃣ 🏆 castle candidate 107-1." in edit.result["text"]
        assert "5️⃣ joins the story as line 3" in edit.result["text"]
        winner = await setup.fake.wait_for("sendMessage", after=mark)
        assert winner.result["text"].startswith("📜 3. castle candidate 107-1.")


async def test_one_message_round_fits_telegrams_limit(setup: Setup) -> None:
    """Nine long candidates still make one message within 4096 characters (texts shortened)."""
    setup.writer.repeat = None
    async with setup.bot(layout="one_message", max_length=600, max_candidates=9, candidates=9):
        await story_with_two_lines(setup)
        long_writer = setup.writer
        original = long_writer.generate

        async def long_candidates(request: Any) -> Any:
            found = await original(request)
            return [dataclasses.replace(c, text=c.text + " more" * 120) for c in found]

        long_writer.generate = long_candidates  # type: ignore[method-assign]
        round_message, _ = await setup.continue_story(ALICE, "/continue 600")
        assert len(round_message.result["text"].encode("utf-16-le")) // 2 <= 4096
        assert len(setup.buttons(round_message)) == 9


async def test_a_tap_costs_one_write_transaction(setup: Setup) -> None:
    """A button tap, end to end through python-telegram-bot: a handful of store calls and one
    write transaction (a vote cost ~24 calls and 4 writes before); a webhook's delivery adds
    one statement that marks the update taken, outside any transaction."""
    stores, counting = counting_stores()
    async with setup.bot(layout="one_message", store=counting) as bot:
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])  # the round's message is stored
        cost = stores[0].measure()
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        calls, writes = cost()
        delivery = 1 if setup.mode == "webhook" else 0
        assert stores[0].calls.count("first_delivery") == delivery
        assert calls - delivery <= 6 and writes == 1, stores[0].calls


async def test_a_round_message_nobody_recorded_is_adopted_by_the_first_tap(setup: Setup) -> None:
    """The process that posted the round died before recording its message (or another process
    took the tap first): the tap still counts, the message becomes the round's, and the round's
    end is shown on it."""
    async with setup.bot(layout="one_message") as bot:
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])
        round_id = round_id_of(round_message)
        shown = RoundMessages(GROUP["id"], round_message.result["message_id"], ()).ref
        await bot.store.set_round_message(round_id, "")  # as if never recorded
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        found = await bot.store.place_of_round(round_id)
        assert found is not None and found.round is not None
        assert found.round.message_ref == shown
        assert not await bot.store.adopt_round_message(round_id, "tg:1:2:")  # recorded now
        mark = len(setup.fake.calls)
        setup.clock.t = found.round.deadline or 0.0
        assert await bot.relay.close_due(round_id) is not None
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == round_message.result["message_id"]
        assert "2️⃣ won" in edit.result["text"]


@pytest.mark.parametrize("layout", ["one_message", "message_per_candidate"])
async def test_a_round_its_process_never_posted_is_posted_by_the_sweep(
    setup: Setup, layout: str
) -> None:
    """The process stored the round as open for votes and stopped before posting it: once its
    message is overdue, the sweep (any process's) posts it with the whole vote time again, a
    tap on it votes, and its end is shown on it."""
    async with setup.bot(layout=layout) as bot:
        await story_with_two_lines(setup)
        opened = await bot.relay.continue_story(GROUP_KEY, Actor(str(ALICE["id"]), "Alice"))
        assert opened.view.round.unshown  # stored; never posted
        mark = len(setup.fake.calls)
        setup.clock.t += SHOW_GRACE + 1_000  # its deadline long past too
        assert await bot.relay.close_overdue() == []
        round_message = await setup.fake.wait_for(
            "sendMessage", lambda c: "reply_markup" in c.params, after=mark
        )
        assert round_id_of(round_message) == opened.view.id
        shown = await bot.store.place_of_round(opened.view.id)
        assert shown is not None and shown.round is not None and shown.round.message_ref
        assert shown.round.deadline == setup.clock.now() + 120
        assert await setup.tap(BOB, round_message, 2) == "✅ You vote for 2️⃣."
        mark = len(setup.fake.calls)
        await close_at_deadline(setup, bot, opened.view.id)
        edit = await setup.fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == round_message.result["message_id"]


async def test_counts_another_process_showed_are_not_left_overtaken(setup: Setup) -> None:
    """Two processes: this one's vote is read (revision r), another process's vote lands and is
    shown (r + 1), then this one's edit of revision r arrives last. After its edit this process
    sees the newer revision and shows it: the keyboard ends with both votes."""
    async with setup.bot(layout="one_message", shared_database=True) as bot:
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])
        ours = await bot.relay.vote(GROUP_KEY, Actor("tg:1", "Ann"), 1)
        await bot.relay.vote(GROUP_KEY, Actor("tg:2", "Bo"), 2)  # the other process's vote
        await bot.platform.board.refresh(GROUP["id"], ours.view)
        await setup.counts_shown(round_message, ["1️⃣ 1", "2️⃣ 1", "3️⃣ 0"])


async def test_one_process_reads_nothing_after_showing_counts(setup: Setup) -> None:
    """Alone on its database, a process makes and shows every change itself: a refresh costs
    no read."""
    stores, counting = counting_stores()
    async with setup.bot(layout="one_message", store=counting) as bot:
        await story_with_two_lines(setup)
        await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])
        ours = await bot.relay.vote(GROUP_KEY, Actor("tg:1", "Ann"), 1)
        stores[0].reset()
        await bot.platform.board.refresh(GROUP["id"], ours.view)
        assert stores[0].calls == []


async def test_a_keyboard_edit_landing_after_another_process_ended_the_round_is_undone(
    setup: Setup,
) -> None:
    """A last-moment vote is read here; another process closes the round (its end edit removes
    the keyboard); this process's edit of the counts lands after it. Seeing the round ended,
    it takes the keyboard away again."""
    async with setup.bot(layout="one_message", shared_database=True) as bot:
        await story_with_two_lines(setup)
        round_message, _ = await setup.continue_story(ALICE)
        await bot.platform.board.settled(GROUP["id"])
        ours = await bot.relay.vote(GROUP_KEY, Actor("tg:1", "Ann"), 1)
        closed = await bot.store.close_round(ours.view.id, verdict(None, "deadline"), 0.0, *WRITER)
        assert closed is not None  # the other process's close (its announcement not shown here)
        mark = len(setup.fake.calls)
        await bot.platform.board.refresh(GROUP["id"], ours.view)
        edits = setup.fake.sent("editMessageReplyMarkup", mark)
        assert len(edits) == 2 and "reply_markup" not in edits[-1].params
        assert setup.buttons(round_message) == []
