"""The trainer process as the bot runs it: a real `python -m engine finetune` on a tiny writer,
finishing, killed mid-run, going silent, or refusing bad input."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest

from bot.core.ports import FinetuneJob, TrainerFailed
from bot.trainer_client import EngineTrainer

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
