"""The living writer's rules, on a real store with a fake trainer process: the queue, the
schedule, promotion and rejection, failures, lineages, rollback, /model."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.config import TrainingConfig
from bot.core.errors import NotAllowed, RelayError
from bot.core.views import ChatKey
from tests.bot.conftest import ALICE, BOB, CHAT, MOD, Listener, World

OTHER = ChatKey("console", "other-chat", "Other chat")
NOVEL = ("옛날 옛적에 호랑이가 살았다. 호랑이는 곶감을 무서워했다. ".encode() * 8, "tiger.txt")


async def chat_with_text(world: World, key: ChatKey = CHAT) -> None:
    await world.relay.new_story(key, ALICE, "Tiger")
    await world.relay.write(key, ALICE, "The tiger woke. " * 4)
    await world.relay.add_novel(key, MOD, NOVEL[1], NOVEL[0])


async def test_train_now_queues_a_run_and_says_where_it_stands(world: World) -> None:
    """Moderators queue a fine-tune at once; asking again finds the same run; members are
    refused; a chat with too little text is told so."""
    with pytest.raises(RelayError, match="no story here"):
        await world.relay.train_now(CHAT, MOD)
    await world.relay.new_story(CHAT, ALICE, "Tiger")
    with pytest.raises(RelayError, match="too little to learn from"):
        await world.relay.train_now(CHAT, MOD)
    await chat_with_text(world, OTHER)
    await world.relay.add_novel(CHAT, MOD, NOVEL[1], NOVEL[0])
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, BOB, "/train now")
    first = await world.relay.train_now(CHAT, MOD)
    assert first.queued_now and first.pending is not None and first.pending.status == "queued"
    again = await world.relay.train_now(CHAT, MOD)
    assert not again.queued_now and again.pending == first.pending
    assert (await world.relay.training_status(CHAT)).pending == first.pending


async def test_a_promoted_version_writes_the_next_continue(world: World) -> None:
    """The run is announced with its figures; the chat's next /continue uses the new version,
    another chat keeps the shipped writer; the novel is marked trained."""
    listener = Listener()
    world.announcers.register("console", listener)
    await chat_with_text(world)
    await chat_with_text(world, OTHER)
    await world.relay.train_now(CHAT, MOD)
    assert await world.relay.training.run_next()
    assert not await world.relay.training.run_next()  # the queue is empty
    ((told, news),) = listener.news
    assert told == CHAT.external_id and news.version is not None
    assert news.version.status == "promoted" and news.version.number == 1
    job = world.trainer.jobs[0]
    assert job.parent == job.base == "weights/default" and job.out.endswith("/run-1")
    assert {name.split(":")[0] for name, _ in job.texts} == {"novel 1", "story 1"}
    await world.relay.continue_story(CHAT, ALICE)
    await world.relay.continue_story(OTHER, ALICE)
    assert [r.writer for r in world.writer.requests] == [job.out, ""]
    assert [n.status for n in (await world.relay.list_novels(CHAT)).novels] == ["trained"]
    assert [n.status for n in (await world.relay.list_novels(OTHER)).novels] == ["queued"]
    model = await world.relay.model(CHAT)
    assert model.active is not None and model.active.number == 1
    assert model.picture == f"{job.out}/loss.png" and model.facts.model == job.out


async def test_a_rejected_version_is_kept_but_does_not_write(world: World) -> None:
    """A version that fails the gate is recorded with its reason; the writer stays."""
    listener = Listener()
    world.announcers.register("console", listener)
    await chat_with_text(world)
    world.trainer.promote = False
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    ((_, news),) = listener.news
    assert news.version is not None and news.version.status == "rejected"
    assert "did not get better" in news.version.reason
    model = await world.relay.model(CHAT)
    assert model.active is None and [v.status for v in model.versions] == ["rejected"]
    await world.relay.continue_story(CHAT, ALICE)
    assert world.writer.requests[-1].writer == ""


async def test_a_failed_run_leaves_the_writer_and_the_schedule_tries_again(world: World) -> None:
    """A trainer that dies fails its run with the reason; the writer is untouched; the next
    schedule queues the chat again."""
    listener = Listener()
    world.announcers.register("console", listener)
    await chat_with_text(world)
    world.trainer.fail = "the trainer was killed (signal 9)."
    assert len(await world.relay.training.queue_due()) == 1
    await world.relay.training.run_next()
    ((_, news),) = listener.news
    assert news.version is None and news.run.status == "failed"
    assert news.run.error == "the trainer was killed (signal 9)."
    assert (await world.relay.model(CHAT)).active is None
    world.trainer.fail = None
    (again,) = await world.relay.training.queue_due()
    assert again.id != news.run.id
    await world.relay.training.run_next()
    assert (await world.relay.model(CHAT)).active is not None


async def test_the_schedule_queues_only_chats_with_enough_new_text(world: World) -> None:
    """After a run, a chat is queued again only when min_new_chars of new text came since."""
    await chat_with_text(world)
    await world.relay.new_story(OTHER, ALICE, "Quiet")
    await world.relay.write(OTHER, ALICE, "Too short.")
    (queued,) = await world.relay.training.queue_due()
    assert queued.trigger == "schedule"
    await world.relay.training.run_next()
    assert await world.relay.training.queue_due() == []
    await world.relay.write(CHAT, BOB, "x" * 120)
    assert len(await world.relay.training.queue_due()) == 1


async def test_each_fine_tune_starts_from_the_chats_current_version(world: World) -> None:
    """The second run's parent is the first run's promoted version."""
    await chat_with_text(world)
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    first, second = world.trainer.jobs
    assert second.parent == first.out and second.base == "weights/default"


async def test_rollback_lets_an_earlier_version_write_again(world: World) -> None:
    """/model rollback 1 (moderators) makes version 1 write; 0 is the shipped writer; rejected
    or missing versions are refused."""
    await chat_with_text(world)
    for _ in range(2):
        await world.relay.train_now(CHAT, MOD)
        await world.relay.training.run_next()
    world.trainer.promote = False
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, BOB, "/model rollback 1")
    rolled = await world.relay.rollback(CHAT, MOD, 1)
    assert rolled.rolled_back and rolled.active is not None and rolled.active.number == 1
    with pytest.raises(RelayError, match="rejected"):
        await world.relay.rollback(CHAT, MOD, 3)
    with pytest.raises(RelayError, match="no version 7"):
        await world.relay.rollback(CHAT, MOD, 7)
    assert (await world.relay.rollback(CHAT, MOD, 0)).active is None


async def test_a_restart_fails_the_running_run_and_keeps_the_queued_ones(world: World) -> None:
    """A run left running by a stopped bot is failed with the reason; queued runs still run."""
    await chat_with_text(world)
    await chat_with_text(world, OTHER)
    await world.relay.train_now(CHAT, MOD)
    await world.relay.train_now(OTHER, MOD)
    await world.store.claim_training(world.clock.now())  # the bot died while this one ran
    (failed,) = await world.relay.training.recover()
    assert failed.status == "failed" and "restarted" in failed.error
    assert await world.relay.training.run_next()  # the queued one
    assert (await world.relay.model(OTHER)).active is not None
    assert (await world.relay.model(CHAT)).active is None


async def test_a_shared_writer_learns_from_every_chat(world: World) -> None:
    """With training.shared_writer every chat writes with, and teaches, one lineage."""
    world.relay.ctx.training = dataclasses.replace(TrainingConfig(), shared_writer=True)
    await chat_with_text(world)
    await chat_with_text(world, OTHER)
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    assert len(world.trainer.jobs[0].texts) == 4  # both chats' novels and stories
    await world.relay.continue_story(OTHER, ALICE)
    assert world.writer.requests[-1].writer == world.trainer.jobs[0].out


async def test_a_bug_in_a_run_fails_it_and_the_worker_goes_on(world: World) -> None:
    """An unexpected error while carrying out a run fails that run (it never stays running and
    blocks its chat), and the worker loop takes the next one."""
    await chat_with_text(world)
    await chat_with_text(world, OTHER)

    async def broken(job: object, progress: object) -> object:
        raise RuntimeError("disk full")

    real = world.trainer.finetune
    world.trainer.finetune = broken  # type: ignore[assignment,method-assign]
    await world.relay.train_now(CHAT, MOD)
    await world.relay.train_now(OTHER, MOD)
    with pytest.raises(RuntimeError):
        await world.relay.training.run_next()
    chat = await world.store.find_chat(CHAT.platform, CHAT.external_id)
    assert chat is not None
    (failed,) = await world.store.training_runs(f"chat-{chat.id}")
    assert failed.status == "failed" and "disk full" in failed.error
    world.trainer.finetune = real  # type: ignore[method-assign]
    worker = asyncio.create_task(world.relay.training.work(poll_seconds=0.05))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if (await world.relay.model(OTHER)).active is not None:
            break
    worker.cancel()
    assert (await world.relay.model(OTHER)).active is not None


async def test_folders_of_rejected_and_old_versions_are_deleted(world: World) -> None:
    """A rejected version's folder goes once recorded, and promoted ones beyond
    training.keep_versions, never the one writing; their records stay, and a rollback to a
    deleted one is refused, saying so."""
    world.relay.ctx.training = dataclasses.replace(world.relay.ctx.training, keep_versions=2)
    await chat_with_text(world)
    for promote in (True, True, False, True):
        world.trainer.promote = promote
        await world.relay.train_now(CHAT, MOD)
        await world.relay.training.run_next()

    async def on_disk() -> dict[int, bool]:
        versions = (await world.relay.model(CHAT)).versions
        return {v.number: Path(v.path).is_dir() for v in versions}

    assert await on_disk() == {4: True, 3: False, 2: True, 1: False}
    with pytest.raises(RelayError, match="deleted to save space"):
        await world.relay.rollback(CHAT, MOD, 1)
    assert (await world.relay.rollback(CHAT, MOD, 2)).active.number == 2  # type: ignore[union-attr]
    world.relay.ctx.training = dataclasses.replace(world.relay.ctx.training, keep_versions=1)
    world.trainer.promote = False
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    assert await on_disk() == {5: False, 4: True, 3: False, 2: True, 1: False}  # 2 writes
    assert Path("weights/default").is_dir()  # the shipped base is never touched
