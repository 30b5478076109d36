"""`python -m bot` as `make run` starts it: platforms chosen by the tokens in the environment."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.app import Options, choose_platforms, loop_factory, run
from bot.config import parse_config
from tests.bot.platforms.discord.fake_discord import FakeDiscord, Member
from tests.bot.platforms.telegram.fake_bot_api import TOKEN, FakeBotAPI, private, user

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_the_bot_runs_on_uvloop_unless_asked_for_asyncios_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop's loop by default (the console tests run `python -m bot` on it, worker and all);
    RELAYTALE_EVENT_LOOP=asyncio asks for asyncio's own."""
    import uvloop

    monkeypatch.delenv("RELAYTALE_EVENT_LOOP", raising=False)
    assert loop_factory() is uvloop.new_event_loop
    monkeypatch.setenv("RELAYTALE_EVENT_LOOP", "asyncio")
    assert loop_factory() is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["console"]),
        ({"TELEGRAM_TOKEN": "t"}, ["telegram"]),
        ({"DISCORD_TOKEN": "d"}, ["discord"]),
        ({"TELEGRAM_TOKEN": "t", "DISCORD_TOKEN": "d"}, ["telegram", "discord"]),
        ({"TELEGRAM_TOKEN": ""}, ["console"]),
    ],
)
def test_platforms_follow_the_tokens(environ: dict[str, str], expected: list[str]) -> None:
    """auto: the platforms whose tokens are set, else the console."""
    assert choose_platforms("auto", environ) == expected


@pytest.mark.parametrize("secret", [None, "", "not a valid secret!", "x" * 257])
async def test_telegram_webhook_mode_refuses_to_start_without_a_good_secret(
    secret: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Webhook mode needs TELEGRAM_WEBHOOK_SECRET, as Telegram allows it: start-up stops before
    anything is opened, naming the variable and never its value."""
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    if secret is None:
        monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    config = parse_config(
        {"telegram": {"mode": "webhook", "webhook_url": "https://relay.test/telegram"}}
    )
    with caplog.at_level(logging.DEBUG):
        code = await run(Options("auto", None, str(tmp_path / "relay.db")), config)
    assert code == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in caplog.text
    assert not secret or secret not in caplog.text
    assert not (tmp_path / "relay.db").exists()


@pytest.mark.slow
async def test_both_tokens_run_telegram_and_discord_in_one_process(
    tmp_path: Path, random_writer_dir: Path
) -> None:
    """With both tokens set the one bot process answers on Telegram and on Discord, and stops
    cleanly on SIGTERM."""
    telegram, discord_ = FakeBotAPI(), FakeDiscord([Member(1, "Alice")])
    await telegram.start()
    await discord_.start()
    config = tmp_path / "app.toml"
    config.write_text(
        f'[writer]\nmodel_dir = "{random_writer_dir}"\ndevice = "cpu"\n'
        f"[storage]\nbackup_minutes = 0\n"
        f'[telegram]\nbase_url = "{telegram.base_url}"\n'
        f'base_file_url = "{telegram.base_file_url}"\n'
        f'[discord]\napi_base = "{discord_.api_base}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "TELEGRAM_TOKEN": TOKEN, "DISCORD_TOKEN": "test-token"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "--db",
        str(tmp_path / "a.db"),
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        bob = user(77, "Bob")
        await telegram.wait_for("setMyCommands", timeout=60)
        telegram.command(private(bob), bob, "/story new Two platforms")
        reply = await telegram.wait_for("sendMessage", timeout=30)
        assert "Two platforms" in reply.result["text"]

        await discord_.wait_until(lambda: "IDENTIFY" in discord_.gateway_log, timeout=60)
        await discord_.connected()
        answered = await discord_.answer(Member(1, "Alice"), "story new", title="Same process")
        assert "Same process" in answered.text()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        await telegram.close()
        await discord_.close()
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_backups_rotate_and_hold_the_data(tmp_path: Path) -> None:
    """The periodic backup writes an openable copy and keeps only the newest `keep` files."""
    from bot.app import backup_database
    from storage import Database, SqlStore

    folder = tmp_path / "backups"
    folder.mkdir()
    for old in ("relaytale-20000101-000000.db", "relaytale-20000102-000000.db"):
        (folder / old).write_bytes(b"old")
    async with Database(tmp_path / "live.db") as db:
        store = SqlStore(db)
        chat = await store.ensure_chat("console", "local", "console")
        await store.create_story(chat.id, "Backed up", "you", 1.0)
        path = await backup_database(db, folder, keep=2)
    assert sorted(p.name for p in folder.iterdir()) == ["relaytale-20000102-000000.db", path.name]
    async with Database(path) as copy:
        stories = await SqlStore(copy).list_stories(chat.id)
    assert [s.title for s in stories] == ["Backed up"]
