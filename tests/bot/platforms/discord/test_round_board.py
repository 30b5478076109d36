"""bot/platforms/discord/round_board.py: the round message, reactions as votes, the live counts,
the ballots read back at close (its BallotBox port); end to end, the real discord.py client against
the local fake Discord (fake_discord.py: REST and the gateway over a real WebSocket), the relay
core, a real SQLite store, the fake writer."""

from __future__ import annotations

from bot.core.context import SHOW_GRACE
from bot.core.views import Actor
from tests.bot.platforms.discord.fake_discord import BOT_ID, CHANNEL_ID, MEMBER_PERMISSIONS
from tests.bot.platforms.discord.helpers import (
    ALICE,
    BOB,
    CAROL,
    MOD,
    Guild,
    GuildFactory,
    eventually,
)
from tests.storage.helpers import stored_votes


async def test_round_in_a_guild_from_story_to_winner(guild: Guild) -> None:
    """Story, two writers, /continue, three reaction votes (one moves), deadline: winner posted."""
    message = await guild.open_round()
    await guild.fake.react(ALICE, message.id, "1️⃣")
    await guild.fake.react(BOB, message.id, "3️⃣")
    await guild.fake.react(CAROL, message.id, "1️⃣")
    await guild.votes_become(message, {"1": 1, "2": 3, "3": 1})
    await guild.fake.react(CAROL, message.id, "3️⃣")
    await guild.votes_become(message, {"1": 1, "2": 3, "3": 3})
    # The bot may manage messages, so Carol's old reaction goes, and that changes no vote.
    await guild.fake.wait_until(lambda: CAROL.id not in message.reactions["1️⃣"])
    await guild.fake.wait_until(lambda: "-# 2 votes" in message.content)  # live counts
    await guild.votes_become(message, {"1": 1, "2": 3, "3": 3})

    await guild.deadline_passes(message)
    assert await guild.last_line() == ("ai", "dragon candidate 101-2.")
    assert "closed (deadline): 3️⃣ won with 2 votes of 3" in message.content
    posted = guild.fake.channel_messages()[-1]
    assert "🏆" in posted.content and "dragon candidate 101-2." in posted.content
    assert not any(
        v.member_id == str(BOT_ID)
        for v in await stored_votes(guild.world.store, (await guild.round_of(message)).id)
    )


async def test_reaction_while_disconnected_counts_at_close(guild: Guild) -> None:
    """Reactions made while the bot was away and never dispatched to it count at close."""
    message = await guild.open_round()
    await guild.fake.react(ALICE, message.id, "1️⃣")
    await guild.votes_become(message, {"1": 1})
    guild.fake.invalidate_resume = True
    guild.fake.hold_gateway()
    await guild.fake.drop()
    await guild.fake.react(BOB, message.id, "3️⃣")
    await guild.fake.react(CAROL, message.id, "3️⃣")
    guild.fake.release_gateway()
    await guild.fake.connected(identifies=2)  # RESUME refused: a fresh IDENTIFY
    assert "INVALID_SESSION" in guild.fake.gateway_log
    await guild.votes_become(message, {"1": 1})  # the gateway never told the bot

    await guild.deadline_passes(message)
    assert await guild.last_line() == ("ai", "dragon candidate 101-2.")
    assert "3️⃣ won with 2 votes of 3" in message.content
    assert guild.fake.calls_to("GET", f"/messages/{message.id}/reactions/")


async def test_removing_a_reaction_removes_only_the_current_vote(make_guild: GuildFactory) -> None:
    """Taking back a moved vote's old reaction changes nothing; the current one's unvotes."""
    guild = await make_guild(bot_permissions=MEMBER_PERMISSIONS)
    message = await guild.open_round()
    await guild.fake.react(ALICE, message.id, "1️⃣")
    await guild.fake.react(ALICE, message.id, "2️⃣")
    await guild.votes_become(message, {"1": 2})
    await guild.fake.unreact(ALICE, message.id, "1️⃣")
    await guild.fake.react(BOB, message.id, "3️⃣")  # a later event, handled after the removal
    await guild.votes_become(message, {"1": 2, "2": 3})
    await guild.fake.unreact(ALICE, message.id, "2️⃣")
    await guild.votes_become(message, {"2": 3})
    assert not guild.fake.calls_to("DELETE", "/reactions/")


async def test_continue_again_adds_candidates_to_the_same_message(guild: Guild) -> None:
    """A second /continue edits the round message and seeds only the new keycaps."""
    message = await guild.open_round()
    reply = await guild.fake.answer(BOB, "continue", keyword="castle")
    assert "Added 4️⃣, 5️⃣, 6️⃣ to round 1" in reply.text()
    await guild.fake.wait_until(lambda: len(message.reactions) == 6)
    # The first /continue took seeds 101-106 (3 candidates, over-generated twice): 107 is new.
    assert "castle candidate 107-0." in message.content
    assert len(guild.fake.calls_to("PUT", "/reactions/")) == 6


async def test_moderator_closes_round_publicly(guild: Guild) -> None:
    """/round close by a moderator: the reply names the winner, the round message shows it."""
    message = await guild.open_round()
    await guild.fake.react(BOB, message.id, "2️⃣")
    await guild.votes_become(message, {"2": 2})
    refused = await guild.fake.answer(ALICE, "round close")
    assert refused.messages()[0].ephemeral and "Only moderators" in refused.text()
    reply = await guild.fake.answer(MOD, "round close")
    assert not reply.messages()[0].ephemeral
    assert "2️⃣ won with 1 vote" in reply.text() and "dragon candidate 101-1." in reply.text()
    await guild.fake.wait_until(lambda: "closed (moderator)" in message.content)


async def test_a_round_its_process_never_posted_is_posted_by_the_sweep(guild: Guild) -> None:
    """The process stored the round as open for votes and stopped before posting it: once its
    message is overdue, the sweep posts it with its keycaps and the whole vote time again; a
    reaction on it votes, and the winner joins at the new deadline."""
    await guild.fake.answer(ALICE, "story new", title="Dragon")
    await guild.fake.answer(ALICE, "write", text="The dragon woke under the mountain.")
    key = guild.platform.board.key(CHANNEL_ID)
    opened = await guild.world.relay.continue_story(key, Actor(str(ALICE.id), ALICE.name))
    assert opened.view.round.unshown  # stored; never posted
    guild.world.clock.t += SHOW_GRACE + 1_000  # its deadline long past too
    assert await guild.world.relay.close_overdue() == []
    (message,) = [m for m in guild.fake.channel_messages() if "**Round 1**" in m.content]
    await guild.fake.wait_until(lambda: len(message.reactions) == 3)
    shown = await guild.round_of(message)
    assert shown.deadline == guild.world.clock.now() + 120
    await guild.fake.react(BOB, message.id, "2️⃣")
    await guild.votes_become(message, {"2": 2})
    await guild.deadline_passes(message)
    assert await guild.last_line() == ("ai", "candidate 101-1.")


async def test_a_round_message_nobody_recorded_is_adopted_by_the_first_reaction(
    guild: Guild,
) -> None:
    """The process that posted the round died before recording its message: the first keycap
    on it still counts, the message becomes the round's (it is not posted again), its end is
    shown on it. A keycap on another message of the bot's is just a reaction."""
    message = await guild.open_round()
    round_ = await guild.round_of(message)
    await guild.world.store.set_round_message(round_.id, "")  # as if never recorded
    channel = guild.platform.client.get_partial_messageable(CHANNEL_ID)
    other = await channel.send("The lamp is lit.")  # another message of the bot's
    await guild.fake.react(ALICE, other.id, "1️⃣")
    await guild.fake.react(BOB, message.id, "2️⃣")
    await eventually(lambda: guild.round_is_shown_on(round_.id, message))
    await guild.votes_become(message, {"2": 2})
    adopted = await guild.round_of(message)
    assert adopted.id == round_.id and adopted.deadline is not None
    guild.world.clock.t = max(adopted.deadline, guild.world.clock.now() + SHOW_GRACE) + 1
    ((_, result),) = await guild.world.relay.close_overdue()  # closed, never posted again
    assert result.winner is not None and result.winner.ordinal == 2
    assert [m for m in guild.fake.channel_messages() if "**Round 1**" in m.content] == [message]
    assert "2️⃣ won" in message.content
