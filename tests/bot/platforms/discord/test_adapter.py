"""bot/platforms/discord/adapter.py end to end: the gateway and its reconnects, refusals, /novel
add attachments, unknown events, the living writer's news, Korean; the real discord.py client
against the local fake Discord (fake_discord.py: REST and the gateway over a real WebSocket), the
relay core, a real SQLite store, the fake writer."""

from __future__ import annotations

import logging

import pytest

from bot.platforms.discord import render
from tests.bot.platforms.discord.fake_discord import GUILD_ID, Member, Upload
from tests.bot.platforms.discord.helpers import ALICE, BOB, CAROL, MOD, Guild, GuildFactory


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


async def test_refusals_are_ephemeral(guild: Guild) -> None:
    """A refused command, deferred or not, is answered privately."""
    written = await guild.fake.answer(ALICE, "write", text="No story yet.")
    continued = await guild.fake.answer(ALICE, "continue")
    for reply in (written, continued):
        (shown,) = reply.messages()
        assert shown.ephemeral and "There is no story here yet" in shown.content


async def test_novel_add_accepts_a_good_file(guild: Guild) -> None:
    """A moderator's UTF-8 .txt joins the training list."""
    text = "용은 천천히 눈을 떴다. The dragon slept again. " * 40
    reply = await guild.fake.answer(MOD, "novel add", file=Upload("dragon.txt", text.encode()))
    assert not reply.messages()[0].ephemeral and "**dragon**" in reply.text()


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
