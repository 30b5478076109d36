"""The bot with writer.backend = "fleet": whole rounds against the session's writer fleet (a local
Ray cluster, tests/ray_cluster.py), on the console (the real bot process, wired from its config)
and on Telegram (the fake Bot API); and with the fleet unreachable, /continue says the writer is
unavailable while everything else goes on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.ports import WriterRequest, WriterUnavailable
from bot.fleet_client import FleetClient, location, model_id
from tests.bot.conftest import FakeClock, FakeTrainer
from tests.bot.platforms.telegram.fake_bot_api import FakeBotAPI, administrator
from tests.bot.platforms.telegram.helpers import (
    ADA,
    ALICE,
    BOB,
    GROUP,
    GROUP_KEY,
    Setup,
    close_at_deadline,
    round_id_of,
    story_with_two_lines,
)
from tests.bot.platforms.test_console import run_console, story_lines
from tests.ray_cluster import Fleet, free_port

pytestmark = pytest.mark.slow  # the session's fleet takes seconds to start, once


def fleet_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'[writer]\nbackend = "fleet"\nfleet_url = "{url}"\ntimeout_seconds = 30.0\n'
        "[storage]\nbackup_minutes = 0\n",
        encoding="utf-8",
    )
    return path


ROUND = """\
/story new Dragon
/write The dragon woke under the mountain.
/continue castle
/vote 1
/round close
"""


async def test_a_console_round_with_the_fleet_writing(writer_fleet: Fleet, tmp_path: Path) -> None:
    """`python -m bot` with backend = "fleet" starts no worker: the fleet writes the
    candidates, and the one voted for joins the story."""
    db = tmp_path / "story.db"
    out = run_console(fleet_config(tmp_path, writer_fleet.url), db, ROUND)
    assert "1️⃣ joins the story" in out
    kind, author, text = (await story_lines(db))[-1]
    assert (kind, author) == ("ai", "the writer") and text.startswith("castle")


async def test_a_telegram_round_with_the_fleet_writing(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """A group's round on Telegram, its candidates from the fleet: a tap, the deadline, the
    winner is the story's last line."""
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP["id"]] = [administrator(ADA, owner=True)]
    writer = FleetClient(writer_fleet.url, timeout=30.0)
    await writer.start()
    try:
        setup = Setup(fake, tmp_path / "relay.db", writer, FakeClock(), FakeTrainer())
        async with setup.bot(layout="one_message") as bot:
            await story_with_two_lines(setup)
            round_message, _ = await setup.continue_story(ALICE, "/continue lamp")
            assert setup.buttons(round_message)[0] == "1️⃣ 0"
            assert await setup.tap(BOB, round_message, 1) == "✅ You vote for 1️⃣."
            await close_at_deadline(setup, bot, round_id_of(round_message))
            story = await bot.relay.show_story(GROUP_KEY)
            last = story.lines[-1]
            assert last.kind == "ai" and last.text.startswith("lamp")
    finally:
        await writer.close()
        await fake.close()


DOWN = """\
/story new Lighthouse
/write The lamp went dark at midnight.
/continue
/write Nobody on the island slept.
/story show
"""


async def test_with_the_fleet_unreachable_only_continue_fails(tmp_path: Path) -> None:
    """No fleet at fleet_url: the bot starts all the same; /continue says the writer is not
    answering, and members go on writing and reading the story."""
    db = tmp_path / "story.db"
    url = f"http://127.0.0.1:{free_port()}/writer"
    out = run_console(fleet_config(tmp_path, url), db, DOWN)
    assert "The writer is not answering right now" in out
    assert "2. Nobody on the island slept." in out  # /story show
    assert [text for _, _, text in await story_lines(db)] == [
        "The lamp went dark at midnight.",
        "Nobody on the island slept.",
    ]


async def test_the_client_says_why_the_fleet_did_not_answer(tmp_path: Path) -> None:
    """Unreachable: WriterUnavailable naming the fleet; a folder is sent as an absolute path,
    routed by the model id the engine spells (engine/fleet.py)."""
    client = FleetClient(f"http://127.0.0.1:{free_port()}/writer", timeout=5.0)
    await client.start()
    try:
        with pytest.raises(WriterUnavailable, match="cannot be reached"):
            await client.info()
    finally:
        await client.close()
    assert location("data/writers/v1") == str(Path("data/writers/v1").absolute())
    assert location("s3://bucket/v1") == "s3://bucket/v1" and location("") == ""
    pytest.importorskip("ray.serve")
    from engine.fleet import model_id as engine_model_id
    from engine.fleet import writer_of

    for writer in ("", "/srv/writers/공주/v1", "s3://bucket/a b/v2"):
        assert (
            model_id(writer) == engine_model_id(writer) and writer_of(model_id(writer)) == writer
        )


async def test_a_slow_or_failing_answer_is_unavailable_with_its_reason(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """A reply later than the timeout, and an error the fleet answers (a version that cannot
    be loaded), are WriterUnavailable saying so, never a hang."""
    impatient = FleetClient(writer_fleet.url, timeout=0.2)
    await impatient.start()
    try:
        with pytest.raises(WriterUnavailable, match=r"took longer than 0\.2 s"):
            await impatient.generate(long_request(1500))
    finally:
        await impatient.close()
    client = FleetClient(writer_fleet.url, timeout=30.0)
    await client.start()
    try:
        missing = dataclasses.replace(long_request(20), writer=str(tmp_path / "gone"))
        with pytest.raises(WriterUnavailable, match="could not be loaded"):
            await client.generate(missing)
        assert (await client.info()).model == writer_fleet.base.name
    finally:
        await client.close()


def long_request(chars: int) -> WriterRequest:
    """A request for candidates of exactly `chars` characters."""
    return WriterRequest(
        context="The dragon slept.\n", keyword="", n=3, length=chars, temperature=0.8, seed=1,
        max_chars=chars, min_chars=chars, top_k=0, top_p=0.95, repetition_penalty=1.1,
        overgenerate=2,
    )  # fmt: skip
