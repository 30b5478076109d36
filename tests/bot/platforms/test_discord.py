"""The Discord adapter end to end: the real discord.py client against a local fake Discord (REST
and the gateway over a real WebSocket), the relay core, a real SQLite store, the fake writer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import discord
import pytest

from bot.announce import Announcers
from bot.config import DiscordConfig
from bot.core import tally
from bot.core.records import Ballot, Chat, Round, Vote
from bot.platforms.discord import DiscordPlatform, render
from tests.bot.conftest import ALICE as ALICE_ACTOR
from tests.bot.conftest import CHAT, World
from tests.bot.platforms.fake_discord import (
    BOT_ID,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_MESSAGES,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    Member,
    Message,
    Upload,
)

ALICE = Member(1, "Alice")
BOB = Member(2, "Bob")
CAROL = Member(3, "Carol")
MOD = Member(4, "Mo", MEMBER_PERMISSIONS | MANAGE_MESSAGES)
BOT_CAN_MANAGE = MEMBER_PERMISSIONS | MANAGE_MESSAGES


@dataclass
class Guild:
    """A fake guild with the bot running in it."""

    fake: FakeDiscord
    platform: DiscordPlatform
    world: World
    announcers: Announcers

    async def open_round(self) -> Message:
        """A story, lines from two members, /continue: the round message with its seeds."""
        await self.fake.answer(ALICE, "story new", title="Dragon")
        await self.fake.answer(ALICE, "write", text="The dragon woke under the mountain.")
        await self.fake.answer(BOB, "write", text="용은 천천히 눈을 떴다.")
        reply = await self.fake.answer(ALICE, "continue", keyword="dragon")
        assert not reply.messages()[0].ephemeral and "Round 1 is open" in reply.text()
        (message,) = [m for m in self.fake.channel_messages() if "**Round 1**" in m.content]
        await self.fake.wait_until(lambda: len(message.reactions) == 3)
        return message

    async def round_of(self, message: Message) -> Round:
        found = await self.world.relay.round_by_message(f"dc:{CHANNEL_ID}:{message.id}")
        assert found is not None
        return found

    async def votes_become(self, message: Message, expected: dict[str, int]) -> None:
        round_ = await self.round_of(message)
        await eventually(lambda: self._votes_are(round_.id, expected))

    async def _votes_are(self, round_id: int, expected: dict[str, int]) -> bool:
        votes = await self.world.store.votes(round_id)
        return {v.member_id: v.ordinal for v in votes} == expected

    async def deadline_passes(self, message: Message) -> None:
        """What the scheduler does at the deadline (bot/app.py's round_due); the core
        announces the end."""
        round_ = await self.round_of(message)
        assert round_.deadline is not None
        self.world.clock.t = round_.deadline + 1
        closed = await self.world.relay.close_due(round_.id)
        assert closed is not None

    async def last_line(self) -> tuple[str, str]:
        chat = await self.world.store.ensure_chat("discord", str(CHANNEL_ID), "")
        (story,) = await self.world.store.list_stories(chat.id)
        line = (await self.world.store.lines(story.id))[-1]
        return line.kind, line.text


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the expected state never came")


async def _no_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py waits 5 s before a second IDENTIFY (Discord's rate limit); not here."""


GuildFactory = Callable[..., Awaitable[Guild]]


@pytest.fixture
async def make_guild(world: World, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GuildFactory]:
    started: list[Guild] = []
    # start() sets these class attributes; the test leaves them as it found them.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )

    async def make(
        bot_permissions: int = BOT_CAN_MANAGE,
        dev_guild_ids: tuple[int, ...] = (GUILD_ID,),
        guild_locale: str = "en-US",
    ) -> Guild:
        fake = FakeDiscord(
            [ALICE, BOB, CAROL, MOD], bot_permissions=bot_permissions, guild_locale=guild_locale
        )
        await fake.start()
        platform = DiscordPlatform(
            world.router,
            "test-token",
            DiscordConfig(api_base=fake.api_base, dev_guild_ids=dev_guild_ids),
        )
        monkeypatch.setattr(platform.client, "before_identify_hook", _no_wait)
        world.announcers.register("discord", platform)
        guild = Guild(fake, platform, world, world.announcers)
        started.append(guild)
        await platform.start()
        await fake.connected()
        return guild

    yield make
    for guild in started:
        await guild.platform.stop()
        await guild.fake.close()
        assert not guild.fake.errors


@pytest.fixture
async def guild(make_guild: GuildFactory) -> Guild:
    return await make_guild()


# -- the acceptance scenarios --------------------------------------------------------------------


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
        for v in await guild.world.store.votes((await guild.round_of(message)).id)
    )


async def test_dropped_gateway_resumes_and_the_round_closes(guild: Guild) -> None:
    """A dropped WebSocket: the bot resumes, gets the missed events, the round closes right."""
    message = await guild.open_round()
    await guild.fake.react(ALICE, message.id, "2️⃣")
    await guild.votes_become(message, {"1": 2})
    guild.fake.hold_gateway()
    await guild.fake.drop()
    await guild.fake.react(BOB, message.id, "2️⃣")  # while the bot is away
    guild.fake.release_gateway()
    await guild.fake.wait_until(lambda: guild.fake.gateway_log[-1] == "RESUMED")
    await guild.votes_become(message, {"1": 2, "2": 2})
    await guild.fake.react(CAROL, message.id, "1️⃣")  # after the reconnect
    await guild.votes_become(message, {"1": 2, "2": 2, "3": 1})

    await guild.deadline_passes(message)
    assert guild.fake.gateway_log.count("IDENTIFY") == 1
    assert guild.fake.gateway_log[guild.fake.gateway_log.index("DROP") + 1 :] == [
        "HELLO",
        "RESUME",
        "RESUMED",
    ]
    assert await guild.last_line() == ("ai", "dragon candidate 101-1.")
    assert "2️⃣ won with 2 votes" in guild.fake.channel_messages()[-1].content


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


async def test_member_without_manage_messages_is_refused_novel_add(guild: Guild) -> None:
    """/novel add from a member without Manage Messages: an ephemeral refusal, no download."""
    reply = await guild.fake.answer(ALICE, "novel add", file=Upload("book.txt", b"x" * 2000))
    (shown,) = reply.messages()
    assert shown.ephemeral and "Only moderators can add novels." in shown.content
    assert not guild.fake.calls_to("GET", "/attachments/")


@pytest.mark.parametrize(
    ("upload", "message", "downloaded"),
    [
        (Upload("book.pdf", b"%PDF-1.7"), "Novels must be .txt files", False),
        (Upload("big.txt", b"x", size=30_000_000), "the limit is 20.0 MB", False),
        (
            Upload("latin1.txt", "Café crème, déjà vu. ".encode("latin-1") * 10),
            "not UTF-8 text",
            True,
        ),
    ],
)
async def test_bad_attachment_is_refused_clearly(
    guild: Guild, upload: Upload, message: str, downloaded: bool
) -> None:
    """A bad /novel add file is refused clearly and privately; name and size before download."""
    reply = await guild.fake.answer(MOD, "novel add", file=upload)
    (shown,) = reply.messages()
    assert shown.ephemeral and message in shown.content
    assert bool(guild.fake.calls_to("GET", "/attachments/")) == downloaded


async def test_unknown_and_malformed_dispatches_are_logged_and_skipped(
    guild: Guild, caplog: pytest.LogCaptureFixture
) -> None:
    """Unknown or malformed dispatches and unknown commands are logged and skipped."""
    caplog.set_level(logging.INFO, logger="bot.platforms.discord")
    await guild.fake.dispatch("BRAND_NEW_EVENT", {"anything": 1})
    await guild.fake.dispatch("MESSAGE_REACTION_ADD", {"emoji": {"id": None, "name": "1️⃣"}})
    await guild.fake.dispatch("INTERACTION_CREATE", {"type": 2, "id": "5"})
    unknown = await guild.fake.interact(ALICE, {"id": "9", "name": "dance", "type": 1}, "dance")
    await guild.fake.wait_until(unknown.settled)
    assert unknown.messages()[0].ephemeral and render.FAILED in unknown.text()

    reply = await guild.fake.answer(ALICE, "story new", title="Still here")
    assert "Still here" in reply.text()
    logged = caplog.text
    assert "unknown gateway dispatch BRAND_NEW_EVENT" in logged
    assert "malformed MESSAGE_REACTION_ADD" in logged
    assert "malformed INTERACTION_CREATE" in logged
    assert "/dance failed" in logged
    assert guild.fake.gateway_log.count("IDENTIFY") == 1


# -- more behaviour ------------------------------------------------------------------------------


async def test_commands_synced_with_descriptions_and_identify_asks_for_reactions(
    guild: Guild,
) -> None:
    """Commands synced with descriptions; intents: reactions, not content; heartbeats acked."""
    synced = guild.fake.commands[GUILD_ID]
    assert {c["name"] for c in synced} == {
        "story",
        "write",
        "continue",
        "round",
        "undo",
        "novel",
        "train",
        "model",
        "settings",
    }

    def walk(options: list[dict[str, object]]) -> list[dict[str, object]]:
        found = list(options)
        for option in options:
            found += walk(option.get("options", []))  # type: ignore[arg-type]
        return found

    for item in walk(synced):
        assert item["description"] and item["description"] != "…", item["name"]
    subcommands = {c["name"]: {o["name"] for o in c.get("options", [])} for c in synced}
    assert subcommands["story"] == {"new", "show", "export", "list", "rename", "end"}
    assert subcommands["round"] == {"show", "close", "cancel"}
    assert subcommands["settings"] == {"show", "set"}
    assert subcommands["novel"] == {"add", "list", "remove"}
    intents = discord.Intents._from_value(guild.fake.intents or 0)
    assert intents.reactions and intents.guilds and not intents.message_content
    assert guild.fake.heartbeats >= 1
    await guild.fake.wait_until(lambda: guild.platform.client.latency < float("inf"))  # ACKed


async def test_commands_sync_globally_without_dev_guilds(make_guild: GuildFactory) -> None:
    """With no dev_guild_ids the commands are synced globally."""
    guild = await make_guild(dev_guild_ids=())
    assert GUILD_ID not in guild.fake.commands and len(guild.fake.commands[None]) == 9


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


async def test_refusals_are_ephemeral(guild: Guild) -> None:
    """A refused command, deferred or not, is answered privately."""
    written = await guild.fake.answer(ALICE, "write", text="No story yet.")
    continued = await guild.fake.answer(ALICE, "continue")
    for reply in (written, continued):
        (shown,) = reply.messages()
        assert shown.ephemeral and "There is no story here yet" in shown.content


async def test_export_is_a_file_and_long_stories_are_split(guild: Guild) -> None:
    """/story export sends a file; /story show over 2000 characters comes in several messages."""
    await guild.fake.answer(ALICE, "story new", title="Long")
    for n in range(6):
        await guild.fake.answer(ALICE, "write", text=f"{n} " + "word " * 110)
    shown = await guild.fake.answer(ALICE, "story show")
    await guild.fake.wait_until(lambda: len(shown.messages()) >= 2)
    assert all(len(m.content) <= 2000 for m in shown.messages())
    exported = await guild.fake.answer(ALICE, "story export", format="md")
    ((name, data),) = exported.messages()[0].files
    assert name == "Long.md" and data.decode().startswith("# Long")


async def test_novel_add_accepts_a_good_file(guild: Guild) -> None:
    """A moderator's UTF-8 .txt joins the training list."""
    text = "용은 천천히 눈을 떴다. The dragon slept again. " * 40
    reply = await guild.fake.answer(MOD, "novel add", file=Upload("dragon.txt", text.encode()))
    assert not reply.messages()[0].ephemeral and "**dragon**" in reply.text()


# -- the parts without a server ------------------------------------------------------------------


def test_split_keeps_every_piece_within_the_limit() -> None:
    """Long text is cut at line ends or spaces into pieces of at most 2000 characters."""
    text = "\n".join("line " * 60 for _ in range(30)) + " " + "x" * 4500
    pieces = render.split(text)
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_reconcile_merges_reactions_into_votes() -> None:
    """Unseen reactions become votes, a kept stored vote stands, a vote with no reaction goes."""
    votes = [Vote(1, "a", "A", 2, 0.0), Vote(1, "b", "B", 1, 0.0), Vote(1, "c", "C", 3, 0.0)]
    ballots = [
        Ballot("a", "A", 1),
        Ballot("a", "A", 2),
        Ballot("b", "B", 3),
        Ballot("d", "D", 3),
        Ballot("d", "D", 2),
        Ballot("e", "E", 9),
    ]
    cast, gone = tally.reconcile(votes, ballots, ordinals={1, 2, 3})
    assert cast == [Ballot("b", "B", 3), Ballot("d", "D", 2)]
    assert gone == ["c"]


class _BrokenBallotBox:
    async def ballots(self, chat: Chat, round_: Round) -> list[Ballot] | None:
        raise RuntimeError("the platform is down")


async def test_unreadable_ballot_box_does_not_keep_a_round_open(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """If the platform's reactions cannot be read at close, the stored votes decide."""
    world.relay.add_ballot_box("console", _BrokenBallotBox())
    await world.relay.new_story(CHAT, ALICE_ACTOR, "Dragon")
    opened = await world.relay.continue_story(CHAT, ALICE_ACTOR)
    await world.relay.set_round_message(opened.view.id, "somewhere:1")
    await world.relay.vote(CHAT, ALICE_ACTOR, 2)
    world.clock.t += 10_000
    closed = await world.relay.close_due(opened.view.id)
    assert closed is not None and closed[1].winner is not None
    assert closed[1].winner.ordinal == 2
    assert "reading the votes of round 1 on console failed" in caplog.text


# -- the living writer ---------------------------------------------------------------------------


async def test_train_now_is_announced_and_model_attaches_its_picture(guild: Guild) -> None:
    """/train now (moderators), the result posted in the channel when the run ends, and
    /model show answered with the loss curves attached."""
    await guild.fake.answer(ALICE, "story new", title="Tiger")
    text = "호랑이는 곶감을 무서워했다. 똠방각하는 웃었다.\n" * 20
    added = await guild.fake.answer(
        MOD, "novel add", file=Upload("tiger.txt", text.encode("cp949"))
    )
    assert "read as CP949 (Korean)" in added.text()
    refused = await guild.fake.answer(ALICE, "train now")
    assert refused.messages()[0].ephemeral and "Only moderators" in refused.text()
    queued = await guild.fake.answer(MOD, "train now")
    assert "Fine-tune queued" in queued.text()

    assert await guild.world.relay.training.run_next()
    await guild.fake.wait_until(
        lambda: "🧠 The writer learned" in guild.fake.channel_messages()[-1].content
    )
    shown = await guild.fake.answer(BOB, "model show")
    assert "This chat's writer: version 1" in shown.text()
    ((name, data),) = shown.messages()[0].files
    assert name == "loss.png" and data.startswith(b"\x89PNG")
    subcommands = {
        c["name"]: {o["name"] for o in c.get("options", [])} for c in guild.fake.commands[GUILD_ID]
    }
    assert subcommands["train"] == {"now", "status"}
    assert subcommands["model"] == {"show", "rollback"}


# -- Korean --------------------------------------------------------------------------------------


async def test_a_korean_server_gets_korean_results_and_descriptions(
    make_guild: GuildFactory,
) -> None:
    """The synced commands carry Korean descriptions; a server whose preferred locale is Korean
    gets Korean results; a refusal only one member sees is in that member's own language."""
    guild = await make_guild(guild_locale="ko")
    synced = {c["name"]: c for c in guild.fake.commands[GUILD_ID]}
    assert synced["write"]["description_localizations"]["ko"] == "이야기에 내 줄을 더해요."
    assert synced["story"]["description_localizations"]["ko"] == "이 채팅의 이야기"
    (new,) = [o for o in synced["story"]["options"] if o["name"] == "new"]
    assert new["description_localizations"]["ko"] == "이 채팅에서 이야기를 시작해요."
    assert "ko" in new["options"][0]["description_localizations"]
    assert synced["write"]["name"] == "write" and not synced["write"].get("name_localizations")

    started = await guild.fake.answer(ALICE, "story new", title="용")
    assert "📖 새 이야기: **용**" in started.text()
    await guild.fake.answer(ALICE, "write", text="용이 깨어났다.")
    opened = await guild.fake.answer(ALICE, "continue")
    assert "1번째 투표가 열렸어요" in opened.text()
    (message,) = [m for m in guild.fake.channel_messages() if "1번째 투표" in m.content]
    assert "투표 중" in message.content and "0표" in message.content
    refused = await guild.fake.answer(ALICE, "round close")
    assert (
        refused.messages()[0].ephemeral and "Only moderators can close a round." in refused.text()
    )
    korean = Member(5, "민수", locale="ko")
    guild.fake.members[korean.id] = korean
    refused = await guild.fake.answer(korean, "round close")
    assert "투표는 운영자만 마감할 수 있어요." in refused.text()
