"""The trainer process as the bot runs it: a real `python -m engine finetune` on a tiny writer,
finishing, killed mid-run, going silent, or refusing bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
from pathlib import Path

import pytest

from bot.core.errors import RelayError
from bot.core.ports import FinetuneJob, TrainerFailed
from bot.engine_client import EngineClient
from bot.trainer_client import EngineTrainer
from storage import artifacts
from tests.bot.conftest import ALICE, BOB, CHAT, MOD, World

STYLE = (
    "The knight said that the princess slept. She slept, and he said so again. "
    "The princess said nothing; she slept, and the knight was glad.\n"
) * 30


def job(base: Path, out: Path, budget: float = 10.0, parent: Path | None = None) -> FinetuneJob:
    return FinetuneJob(
        run_id=1,
        parent=str(parent or base),
        base=str(base),
        out=str(out),
        texts=[("story 1", STYLE), ("novel 1", STYLE.upper())],
        time_budget=budget,
        threads=1,
        min_gain_bits=0.0,
        max_forget_bits=5.0,
    )


async def test_a_fine_tune_reports_its_figures_and_writes_its_version(
    random_writer_dir: Path, tmp_path: Path
) -> None:
    """The trainer's heartbeats reach the bot; its summary becomes the version's figures."""
    beats: list[float] = []

    async def progress(fraction: float) -> None:
        beats.append(fraction)

    out = tmp_path / "writers" / "chat-1" / "run-1"
    made = await EngineTrainer(hang_seconds=60).finetune(job(random_writer_dir, out), progress)
    assert made.path == str(out) and (out / "model.safetensors").is_file()
    assert (out / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert made.chat_bits_after is not None and made.chat_bits_before is not None
    assert made.chat_bits_after < made.chat_bits_before and made.chars > 0
    assert beats and all(0.0 <= b <= 1.0 for b in beats)


async def test_a_killed_trainer_fails_its_run_and_leaves_no_version(
    random_writer_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL mid-run: the run fails with the reason, and nothing appears where the version
    would have gone."""
    trainer = EngineTrainer(hang_seconds=60)
    out = tmp_path / "run-2"

    async def kill_when_it_trains(fraction: float) -> None:
        if trainer.pid is not None:
            os.kill(trainer.pid, signal.SIGKILL)

    with pytest.raises(TrainerFailed, match="killed"):
        await trainer.finetune(job(random_writer_dir, out, budget=30), kill_when_it_trains)
    assert not out.exists()


async def test_a_silent_trainer_is_stopped(random_writer_dir: Path, tmp_path: Path) -> None:
    """A trainer that stops sending heartbeats (here: frozen with SIGSTOP) is killed."""
    trainer = EngineTrainer(hang_seconds=3)

    async def freeze(fraction: float) -> None:
        if trainer.pid is not None:
            os.kill(trainer.pid, signal.SIGSTOP)

    with pytest.raises(TrainerFailed, match="stopped answering"):
        await asyncio.wait_for(
            trainer.finetune(job(random_writer_dir, tmp_path / "run-3", budget=30), freeze), 60
        )


async def test_a_corrupt_parent_is_refused_with_the_trainers_reason(
    random_writer_dir: Path, tmp_path: Path
) -> None:
    """Bad input ends the run with what the trainer said, not a stack trace."""
    broken = tmp_path / "broken"
    shutil.copytree(random_writer_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")

    async def ignore(fraction: float) -> None:
        pass

    with pytest.raises(TrainerFailed, match=r"refused: .*model\.safetensors"):
        await EngineTrainer(hang_seconds=60).finetune(
            job(random_writer_dir, tmp_path / "run-4", parent=broken), ignore
        )


async def test_discard_deletes_a_version_folder_and_minds_no_missing_one(tmp_path: Path) -> None:
    folder = tmp_path / "writers" / "chat-1" / "run-1"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"0" * 1000)
    trainer = EngineTrainer()
    await trainer.discard(str(folder))
    await trainer.discard(str(folder))
    assert not folder.exists() and folder.parent.is_dir()


@pytest.mark.slow
async def test_a_version_on_s3_is_recorded_there_and_writes_the_next_continue(
    world: World,
    random_writer_dir: Path,
    s3_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With writers_url = s3://…: the trainer publishes the version to the store, the store
    records its location, and the worker fetches it from there for the chat's next /continue
    (and for /model); rollback looks it up there, and discarding deletes it there."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the worker caches what it fetches
    writer = EngineClient(str(random_writer_dir), device="cpu", timeout=60.0)
    await writer.start()
    try:
        ctx, training = world.relay.ctx, world.relay.training
        ctx.writer = writer
        ctx.policy = dataclasses.replace(ctx.policy, model_dir=str(random_writer_dir))
        ctx.training = dataclasses.replace(
            ctx.training, time_budget_seconds=10, min_gain_bits=0.0, max_forget_bits=2.0
        )
        training.trainer, training.writers_url = EngineTrainer(hang_seconds=60), s3_url
        await world.relay.new_story(CHAT, ALICE, "The knight")
        await world.relay.write(CHAT, ALICE, STYLE[:400])
        await world.relay.add_novel(CHAT, MOD, "knight.txt", STYLE.encode())
        await world.relay.train_now(CHAT, MOD)
        assert await training.run_next()
        chat = await world.store.find_chat(CHAT.platform, CHAT.external_id)
        assert chat is not None
        version = await world.store.writer_head(f"chat-{chat.id}")
        assert version is not None
        assert version.path == f"{s3_url}/chat-{chat.id}/run-1"
        assert artifacts.exists(version.path)
        cache = tmp_path / "relaytale-versions"
        assert not cache.exists()  # nothing has asked the worker for it yet
        shown = await world.relay.continue_story(CHAT, BOB)
        assert shown.added
        assert [p.name for p in cache.glob("*/*")] == ["run-1"]  # the worker fetched it
        assert (await world.relay.model(CHAT)).facts.model == "run-1"
        assert (await world.relay.rollback(CHAT, MOD, 1)).active == version
        await training.trainer.discard(version.path)
        assert not artifacts.exists(version.path)
        with pytest.raises(RelayError, match="deleted to save space"):
            await world.relay.rollback(CHAT, MOD, 1)
    finally:
        await writer.close()
