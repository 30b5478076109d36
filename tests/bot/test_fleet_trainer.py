"""Fine-tunes on the writer fleet as the bot runs them: real runs of a tiny writer as Ray tasks on
the session's cluster (tests/conftest.py `fleet_trainer`), recorded and told exactly as with the
process trainer; a task killed mid-run; one gone silent; a trainer that cannot be reached."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from pathlib import Path

import pytest

from bot.app import build_trainer
from bot.config import TrainingConfig
from bot.core.ports import FinetuneJob, TrainerFailed
from bot.core.views import ChatKey
from bot.fleet_client import FleetClient
from bot.fleet_trainer import FleetTrainer
from bot.trainer_client import EngineTrainer
from bot.trainer_wire import KILLED, UNREACHABLE
from tests.bot.conftest import ALICE, CHAT, MOD, Listener, World
from tests.ray_cluster import Fleet, free_port

OTHER = ChatKey("console", "other-chat", "Other chat")
STYLE = (
    "The knight said that the princess slept. She slept, and he said so again. "
    "The princess said nothing; she slept, and the knight was glad.\n"
) * 30


async def on_the_fleet(world: World, trainer: FleetTrainer, base: Path, *chats: ChatKey) -> None:
    """The world's runs go to `trainer`, from the tiny base, 10 s each at most (the least the
    config allows); each chat has a story and a novel and asks for a run, in that order."""
    ctx = world.relay.ctx
    ctx.policy = dataclasses.replace(ctx.policy, model_dir=str(base))
    ctx.training = dataclasses.replace(
        ctx.training, time_budget_seconds=10, min_gain_bits=0.0, max_forget_bits=2.0
    )
    world.relay.training.trainer = trainer
    for key in chats:
        await world.relay.new_story(key, ALICE, "The knight")
        await world.relay.write(key, ALICE, STYLE[:400])
        await world.relay.add_novel(key, MOD, "knight.txt", STYLE.encode())
        await world.relay.train_now(key, MOD)


@pytest.mark.slow
async def test_a_killed_task_fails_its_run_and_the_next_run_makes_a_version(
    world: World, fleet_trainer: str, random_writer_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first run's task is killed as soon as it says where it runs: the fleet says so in
    the stream's last line, that run fails with the reason and its chat is told; the next run,
    another chat's, trains on the fleet and is recorded with the trainer's figures where the
    core put it, and its chat is told."""
    listener = Listener()
    world.announcers.register("console", listener)
    trainer = FleetTrainer(fleet_trainer, hang_seconds=60)
    await on_the_fleet(world, trainer, random_writer_dir, CHAT, OTHER)

    async def kill_when_it_runs() -> None:
        while trainer.pid is None:
            await asyncio.sleep(0.05)
        os.kill(trainer.pid, signal.SIGKILL)

    killer = asyncio.create_task(kill_when_it_runs())
    assert await world.relay.training.run_next()
    await asyncio.wait_for(killer, 1)
    assert "fine-tune on the fleet ended (killed)" in caplog.text  # a line, not a cut stream
    assert await world.relay.training.run_next()
    (killed_in, killed), (made_in, made) = listener.news
    assert killed_in == CHAT.external_id and killed.version is None
    assert killed.run.status == "failed" and killed.run.error == KILLED
    assert made_in == OTHER.external_id and made.version is not None
    version = made.version
    assert version.status == "promoted" and version.number == 1
    assert version.chat_bits_after is not None and version.chat_bits_before is not None
    assert version.chat_bits_after < version.chat_bits_before
    other = await world.store.find_chat(OTHER.platform, OTHER.external_id)
    assert other is not None
    writers = Path(world.relay.training.writers_url)
    assert version.path == str(writers / f"chat-{other.id}" / "run-2")
    assert (Path(version.path) / "model.safetensors").is_file()
    recorded = json.loads((Path(version.path) / "metrics.json").read_text())["finetune"]
    assert recorded["status"] == "promoted" and version.verdict is not None  # the gate's
    assert [p.name for p in writers.glob("*/*")] == ["run-2"]  # nothing of the killed run


@pytest.mark.slow
async def test_a_silent_task_fails_its_run_and_the_fleet_stops_it(
    fleet_trainer: str, random_writer_dir: Path, tmp_path: Path
) -> None:
    """A task that stops sending heartbeats (its worker frozen with SIGSTOP) fails its run
    after hang_seconds; the bot hangs up and the fleet cancels the task: once the worker runs
    again it exits instead of training on, so a stuck run does not keep the cluster's CPU."""
    trainer = FleetTrainer(fleet_trainer, hang_seconds=3)
    frozen: list[int] = []

    async def freeze(fraction: float) -> None:
        if trainer.pid is not None and not frozen:
            frozen.append(trainer.pid)
            os.kill(trainer.pid, signal.SIGSTOP)

    base = str(random_writer_dir)
    job = FinetuneJob(3, base, base, str(tmp_path / "run-3"), [("s", STYLE)], 30, 1, 0.0, 2.0)
    elsewhere = FleetTrainer(fleet_trainer.rsplit("/", 1)[0] + "/no-trainer-here")
    with pytest.raises(TrainerFailed, match=UNREACHABLE):  # Serve, but no trainer there
        await elsewhere.finetune(job, freeze)
    try:
        with pytest.raises(TrainerFailed, match="stopped answering"):
            await asyncio.wait_for(trainer.finetune(job, freeze), 60)
        await asyncio.sleep(1)  # the fleet's cancel is on its way to the frozen worker
    finally:
        os.kill(frozen[0], signal.SIGCONT)
    for _ in range(300):  # ABANDONED_BEATS heartbeats (10 s here) at most
        if not _alive(frozen[0]):
            break
        await asyncio.sleep(0.1)
    assert not _alive(frozen[0]), "the silent task's worker trains on"
    assert not (tmp_path / "run-3").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_an_unreachable_trainer_fails_the_run_clearly(
    world: World, random_writer_dir: Path
) -> None:
    """Nothing listens at the trainer's URL: the run fails at once with that reason, the chat is
    told, and the next run waits in the queue as usual. (A Serve without the trainer answers
    404: the same, in test_a_silent_task_...)"""
    listener = Listener()
    world.announcers.register("console", listener)
    trainer = FleetTrainer(f"http://127.0.0.1:{free_port()}/trainer", hang_seconds=10)
    await on_the_fleet(world, trainer, random_writer_dir, CHAT)
    assert await world.relay.training.run_next()
    ((told, news),) = listener.news
    assert told == CHAT.external_id and news.version is None
    assert news.run.status == "failed" and news.run.error == UNREACHABLE
    assert not await world.relay.training.run_next()


def test_the_config_chooses_the_trainer() -> None:
    """[training] backend: a process per run, or the fleet's trainer with its URL and GPUs."""
    assert isinstance(build_trainer(TrainingConfig()), EngineTrainer)
    config = TrainingConfig(backend="fleet", fleet_url="http://h:8000/trainer/", gpus=1.0)
    fleet = build_trainer(dataclasses.replace(config, hang_seconds=30))
    assert isinstance(fleet, FleetTrainer)
    assert (fleet.url, fleet.gpus, fleet.hang_seconds) == ("http://h:8000/trainer", 1.0, 30)


@pytest.mark.slow
async def test_a_run_on_the_fleet_publishes_to_s3_and_the_fleet_writes_with_it(
    world: World, fleet_trainer: str, writer_fleet: Fleet, random_writer_dir: Path, s3_url: str
) -> None:
    """[training] writers_url = s3://…: the run's Ray task trains and publishes the version to
    the bucket (nothing lands on the bot's disk); the chat's next /continue names that version,
    and the writer fleet loads it from the bucket and writes with it."""
    import boto3

    listener = Listener()
    world.announcers.register("console", listener)
    world.relay.training.writers_url = s3_url
    trainer = FleetTrainer(fleet_trainer, hang_seconds=60)
    await on_the_fleet(world, trainer, random_writer_dir, CHAT)
    assert await world.relay.training.run_next()
    ((_, news),) = listener.news
    version = news.version
    assert version is not None and version.status == "promoted", news.run.error
    chat = await world.store.find_chat(CHAT.platform, CHAT.external_id)
    assert chat is not None and version.path == f"{s3_url}/chat-{chat.id}/run-1"
    bucket, _, prefix = version.path.removeprefix("s3://").partition("/")
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    names = {item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", [])}
    assert {"model.safetensors", "config.json", "metrics.json"} <= names
    client = FleetClient(writer_fleet.url, timeout=60)
    await client.start()
    world.relay.ctx.writer = client
    try:
        opened = await world.relay.continue_story(CHAT, ALICE)
    finally:
        await client.close()
    assert opened.view.candidates and all(c.text for c in opened.view.candidates)
