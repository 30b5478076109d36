"""Whole console sessions: the real bot process, the real worker, a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import Database, SqlStore
from tests.storage.helpers import stored_votes

ROOT = Path(__file__).resolve().parents[3]


def write_config(tmp_path: Path, model_dir: Path, vote_seconds: int = 120) -> Path:
    path = tmp_path / "test.toml"
    path.write_text(
        f"[relay]\nvote_seconds = {vote_seconds}\n"
        f'[writer]\nmodel_dir = "{model_dir}"\ndevice = "cpu"\n'
        f"[storage]\nbackup_minutes = 0\n",
        encoding="utf-8",
    )
    return path


def run_console(config: Path, db: Path, script: str, timeout: float = 120) -> str:
    done = subprocess.run(
        console_command(config, db),
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "DISCORD_TOKEN": "", "TELEGRAM_TOKEN": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def console_process(config: Path, db: Path) -> asyncio.subprocess.Process:
    """The console bot as a process we type into and read from while it runs."""
    return await asyncio.create_subprocess_exec(
        *console_command(config, db),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


def console_command(config: Path, db: Path) -> list[str]:
    return [
        sys.executable,
        *("-m", "bot", "--platform", "console"),
        *("--config", str(config), "--db", str(db)),
    ]


async def story_lines(db_path: Path) -> list[tuple[str, str, str]]:
    async with Database(db_path) as db:
        store = SqlStore(db)
        chat = await store.ensure_chat("console", "local", "console")
        story = (await store.list_stories(chat.id))[-1]
        return [(line.kind, line.author_name, line.text) for line in await store.lines(story.id)]


async def round_state(db_path: Path) -> tuple[str, list[tuple[str, int]]]:
    async with Database(db_path) as db:
        store = SqlStore(db)
        (round_,) = await store.rounds_with_status(["voting", "closed", "cancelled"])
        votes = [(v.member_id, v.ordinal) for v in await stored_votes(store, round_.id)]
        return round_.status, sorted(votes)


SCRIPT = """\
/story new Dragon
/write The dragon woke under the mountain.
/as bob
/write 용은 천천히 눈을 떴다.
/as alice
/continue dragon 120
/as carol
/continue castle
/as alice
/vote 1
/as bob
2️⃣
/as carol
/vote 4
/as bob
/vote 4
/round close
/story export
/story export md
"""


@pytest.mark.slow
async def test_scripted_round_from_story_to_export(
    tmp_path: Path, random_writer_dir: Path
) -> None:
    """Two lines, two /continue, three voters (one moves), close: the winner is the last line."""
    db = tmp_path / "story.db"
    out = run_console(write_config(tmp_path, random_writer_dir), db, SCRIPT)
    assert "Added 4️⃣, 5️⃣, 6️⃣ to round 1" in out
    assert "vote moved from 2️⃣ to 4️⃣" in out
    assert "4️⃣ joins the story" in out
    lines = await story_lines(db)
    assert lines[:2] == [
        ("human", "you", "The dragon woke under the mountain."),
        ("human", "bob", "용은 천천히 눈을 떴다."),
    ]
    kind, author, text = lines[-1]
    assert (kind, author) == ("ai", "the writer") and text.startswith("castle")
    exported = (tmp_path / "exports" / "Dragon.txt").read_text(encoding="utf-8")
    assert exported == "Dragon\n\n" + "\n\n".join(t for _, _, t in lines) + "\n"
    assert "## Written by" in (tmp_path / "exports" / "Dragon.md").read_text(encoding="utf-8")


BAD_INPUT = """\
/undo
/story new Bad input
/write
/write {long}
/dance
/continue
/vote 7
/round close
/vote 1
/undo
/undo
🐉
"""


@pytest.mark.slow
async def test_bad_input_gets_clear_messages(tmp_path: Path, random_writer_dir: Path) -> None:
    """Empty and over-long lines, unknown commands and emoji, missing candidates, closed rounds."""
    db = tmp_path / "bad.db"
    out = run_console(
        write_config(tmp_path, random_writer_dir), db, BAD_INPUT.format(long="x" * 700)
    )
    for message in (
        "There is no story here yet",
        "That line is empty",
        "the limit is 600",
        "Unknown command /dance",
        "There is no candidate 7",
        "No round is open to vote in",
        "The story has no lines to undo",
        "Commands start with /",
    ):
        assert message in out, message


@pytest.mark.slow
async def test_sigkill_mid_round_loses_nothing(tmp_path: Path, random_writer_dir: Path) -> None:
    """Kill -9 after candidates and two votes: the restarted bot still has the round and both
    votes, and closes it at its deadline."""
    db = tmp_path / "kill.db"
    config = write_config(tmp_path, random_writer_dir, vote_seconds=30)
    process = await console_process(config, db)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/story new Kill\n/write One.\n/continue\n/vote 1\n/as bob\n/vote 2\n")
    await process.stdin.drain()
    seen = ""
    while seen.count("You vote for") < 2:
        chunk = await asyncio.wait_for(process.stdout.readline(), 60)
        assert chunk, seen
        seen += chunk.decode()
    started = time.time()
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()

    assert await round_state(db) == ("voting", [("bob", 2), ("you", 1)])
    out = run_console(config, db, "/round\n")
    assert "1 vote" in out and "voting" in out
    await asyncio.sleep(max(0.0, 30.5 - (time.time() - started)))  # the deadline passes
    out = run_console(config, db, "/story show\n")
    assert "Round 1 closed (deadline)" in out
    status, votes = await round_state(db)
    assert status == "closed" and votes == [("bob", 2), ("you", 1)]
    lines = await story_lines(db)
    assert lines[-1][0] == "ai"


TIGER = (
    "옛날 옛적에 호랑이가 살았다. 호랑이는 곶감이 무서웠다. 똠방각하는 웃었다.\n"
    "The tiger said that the persimmon was near, and the boy slept.\n"
) * 30


async def read_until(stream: asyncio.StreamReader, marker: str, timeout: float = 120) -> str:
    seen = ""
    while marker not in seen:
        chunk = await asyncio.wait_for(stream.readline(), timeout)
        assert chunk, seen
        seen += chunk.decode()
    return seen


@pytest.mark.slow
async def test_a_cp949_novel_teaches_the_chats_writer(
    tmp_path: Path, random_writer_dir: Path
) -> None:
    """/novel add of a CP949 file, /train now, the result announced in the chat, /model shows
    the new version, and /continue writes with it — the real bot, worker and trainer."""
    novel = tmp_path / "호랑이.txt"
    novel.write_bytes(TIGER.encode("cp949"))
    config = write_config(tmp_path, random_writer_dir)
    with config.open("a", encoding="utf-8") as fh:
        fh.write(
            "[training]\ntime_budget_seconds = 10\nmin_chars = 100\nmin_gain_bits = 0.0\n"
            "max_forget_bits = 2.0\nenabled = false\n"
        )
    process = await console_process(config, tmp_path / "learn.db")
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(
            f"/story new Tiger\n/write 호랑이가 산에서 내려왔다.\n/novel add {novel}\n"
            "/train now\n".encode()
        )
        await process.stdin.drain()
        seen = await read_until(process.stdout, "🧠 The writer learned")
        assert "read as CP949 (Korean)" in seen and "똠방각하" not in seen
        assert "Fine-tune queued" in seen
        process.stdin.write(b"/model\n/continue\n/novel list\n")
        await process.stdin.drain()
        seen = await read_until(process.stdout, "added by you, trained")
        assert "This chat's writer: version 1" in seen and "loss curves:" in seen
        assert "Round 1 of “Tiger”" in seen
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 60)
    assert process.returncode == 0
    async with Database(tmp_path / "learn.db") as db:
        store = SqlStore(db)
        chat = await store.ensure_chat("console", "local", "console")
        (novel_row,) = await store.novels(chat.id)
        assert novel_row.encoding == "CP949 (Korean)"
        assert "똠방각하" in (await store.training_text(chat.id)).texts[0][1]  # the novel's text
        head = await store.writer_head(f"chat-{chat.id}")
        assert head is not None and Path(head.path, "model.safetensors").is_file()


KOREAN = """\
/settings set language ko
/help
/story new 용의 잠
/write 용이 산 밑에서 깨어났다.
/continue 용
/vote 7
/vote 1
/as 민수
2️⃣
/round close
"""


@pytest.mark.slow
async def test_a_whole_round_in_korean(tmp_path: Path, random_writer_dir: Path) -> None:
    """/settings set language ko: help, a round, a refusal and the result all in Korean."""
    out = run_console(write_config(tmp_path, random_writer_dir), tmp_path / "ko.db", KOREAN)
    for said in (
        "language ko",
        "이 채팅에서 이야기를 시작해요.",  # /help
        "📖 새 이야기: “용의 잠”",
        "✍️  you님이 1번째 줄을 더했어요.",
        "“용의 잠”의 1번째 투표 — 투표 중",
        "이번 투표에는 7번 후보가 없어요.",  # a refusal
        "✅ 1️⃣에 투표했어요.",
        "🏆 1번째 투표가 끝났어요 (운영자).",
    ):
        assert said in out, said
    for english in ("New story", "Line 1 added", "Round 1 of", "You vote for", "There is no"):
        assert english not in out, english
