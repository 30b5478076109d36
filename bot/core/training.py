"""The living writer: each chat's novels and story teach its own writer, on a schedule, and a
new version replaces the old one only if it measured better and forgot nothing.

The scheduler and /train now only queue runs (rows in the store). One worker loop (`work`)
claims them one at a time and hands each to the Trainer port — a process of its own — with the
chat's texts, its current version as the parent and the shipped base as the anchor; the trainer
judges the new version (the gate) and the store records it, promoted or rejected, in one
transaction. A run whose trainer dies, hangs or is stopped by a restart is failed with the
reason and the chat's writer is untouched; the next schedule tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from bot.core._shared import NO_STORY, Shared
from bot.core.errors import RelayError
from bot.core.ports import FinetuneJob, Trainer, TrainerFailed, WriterUnavailable
from bot.core.records import Chat, TrainingRun
from bot.core.texts import N_
from bot.core.views import Actor, ChatKey, ModelView, TrainingNews, TrainingStatus

log = logging.getLogger(__name__)

RESTARTED = N_("the bot restarted while it was training.")  # a run's error, shown translated
PICTURE = "loss.png"  # the loss curves the trainer draws into each version's folder
HEARTBEAT_EVERY = 10.0  # seconds between heartbeats written to the store


class Training:
    def __init__(self, shared: Shared, trainer: Trainer | None, writers_dir: str) -> None:
        self.s = shared
        self.trainer = trainer
        self.writers_dir = writers_dir
        self._wake = asyncio.Event()

    # -- commands -------------------------------------------------------------------------------

    async def train_now(self, key: ChatKey, actor: Actor) -> TrainingStatus:
        """/train now: queue a fine-tune of the chat's writer at once (moderators)."""
        s = self.s
        s.require_moderator(key, actor, "Only moderators can start a fine-tune.")
        chat = await self._chat(key)
        text = await s.store.training_text(s.scope(chat))
        if text.chars < s.training.min_chars:
            raise RelayError(
                "There is too little to learn from yet ({count} characters; {least} needed). "
                "Add a novel with /novel add, or write more.",
                count=text.chars,
                least=s.training.min_chars,
            )
        _run, created = await s.store.queue_training(
            s.lineage(chat), chat.id, "moderator", actor.member_id, s.clock.now()
        )
        self._wake.set()
        return await self._status(chat, queued_now=created)

    async def status(self, key: ChatKey) -> TrainingStatus:
        """/train: where the chat's fine-tune stands."""
        return await self._status(await self._chat(key), queued_now=False)

    async def _status(self, chat: Chat, queued_now: bool) -> TrainingStatus:
        store, lineage = self.s.store, self.s.lineage(chat)
        pending = await store.pending_training(lineage)
        finished = [r for r in await store.training_runs(lineage, 5) if r.finished_at]
        last = finished[0] if finished else None
        last_version = None
        if last is not None and last.version_id is not None:
            last_version = await store.get_writer_version(last.version_id)
        return TrainingStatus(
            pending=pending,
            queued_now=queued_now,
            ahead=await store.training_ahead(pending.id) if pending else 0,
            last=last,
            last_version=last_version,
            new_chars=await store.new_training_chars(lineage, self.s.scope(chat)),
        )

    async def model(self, key: ChatKey) -> ModelView:
        """/model: the chat's writer, its lineage, its last runs, its loss curves."""
        chat = await self._chat(key)
        return await self._model(chat)

    async def rollback(self, key: ChatKey, actor: Actor, number: int) -> ModelView:
        """/model rollback <version>: an earlier promoted version (0: the shipped base) writes
        again at once (moderators)."""
        s = self.s
        s.require_moderator(key, actor, "Only moderators can roll the writer back.")
        chat = await self._chat(key)
        lineage = s.lineage(chat)
        if number == 0:
            await s.store.set_writer_head(lineage, None, s.clock.now())
            return await self._model(chat, rolled_back=True)
        version = await s.store.writer_version(lineage, number)
        if version is None:
            raise RelayError(
                "This chat's writer has no version {number}. See /model.", number=number
            )
        if version.status != "promoted":
            raise RelayError("Version {number} was rejected; it cannot write.", number=number)
        if not Path(version.path).is_dir():
            raise RelayError(
                "Version {number} was deleted to save space (only the newest versions are "
                "kept); it cannot write again.",
                number=number,
            )
        await s.store.set_writer_head(lineage, version.id, s.clock.now())
        return await self._model(chat, rolled_back=True)

    async def _model(self, chat: Chat, rolled_back: bool = False) -> ModelView:
        store, lineage = self.s.store, self.s.lineage(chat)
        active = await store.writer_head(lineage)
        try:
            facts = await self.s.writer.info(active.path if active else "")
        except WriterUnavailable as exc:
            raise RelayError("The writer is restarting; ask again in a moment.") from exc
        return ModelView(
            facts=facts,
            active=active,
            versions=await store.writer_versions(lineage, 5),
            runs=await store.training_runs(lineage, 3),
            picture=str(Path(active.path) / PICTURE) if active else None,
            rolled_back=rolled_back,
        )

    async def _chat(self, key: ChatKey) -> Chat:
        place = await self.s.place(key)
        if place is None:
            raise RelayError(NO_STORY)
        return place.chat

    # -- the schedule ---------------------------------------------------------------------------

    async def queue_due(self) -> list[TrainingRun]:
        """The periodic job: queue a run for every lineage with enough new text."""
        s = self.s
        now, least = s.clock.now(), s.training.min_new_chars
        queued: list[TrainingRun] = []
        if s.training.shared_writer:
            if await s.store.new_training_chars("shared", None) >= least:
                run, created = await s.store.queue_training("shared", None, "schedule", "", now)
                queued += [run] if created else []
        else:
            for chat, _chars in await s.store.chats_with_new_text(least):
                run, created = await s.store.queue_training(
                    s.lineage(chat), chat.id, "schedule", "", now
                )
                queued += [run] if created else []
        if queued:
            self._wake.set()
        return queued

    # -- the worker loop ------------------------------------------------------------------------

    async def recover(self) -> list[TrainingRun]:
        """At start-up: runs a stopped bot left running are failed (queued ones wait on)."""
        failed = await self.s.store.fail_running_training(RESTARTED, self.s.clock.now())
        for run in failed:
            log.warning("training run %s was interrupted by a restart", run.id)
        return failed

    async def work(self, poll_seconds: float = 30.0) -> None:
        """Run queued fine-tunes one at a time, for ever (cancel to stop)."""
        while True:
            try:
                while await self.run_next():
                    pass
            except Exception:  # a bug or a store failure must not stop learning for good
                log.exception("the training worker failed; it goes on at the next wake-up")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # look at the queue now and then anyway
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    async def run_next(self) -> bool:
        """Claim the oldest queued run and carry it out; False when the queue is empty."""
        s = self.s
        if self.trainer is None:
            return False
        run = await s.store.claim_training(s.clock.now())
        if run is None:
            return False
        try:
            await self._carry_out(run, self.trainer)
        except Exception as exc:  # never leave a run 'running': its lineage would wait for ever
            await s.store.fail_training(run.id, f"the bot failed: {exc}", s.clock.now())
            raise
        return True

    async def _carry_out(self, run: TrainingRun, trainer: Trainer) -> None:
        """One claimed run: its text, its parent, the trainer, the record, the news."""
        s = self.s
        chat = await s.store.get_chat(run.chat_id) if run.chat_id is not None else None
        scope = None if run.lineage == "shared" else run.chat_id
        text = await s.store.training_text(scope)
        parent = await s.store.get_writer_version(run.parent_id) if run.parent_id else None
        job = FinetuneJob(
            run_id=run.id,
            parent=parent.path if parent else s.policy.model_dir,
            base=s.policy.model_dir,
            out=str(Path(self.writers_dir) / run.lineage / f"run-{run.id}"),
            texts=text.texts,
            time_budget=s.training.time_budget_seconds,
            threads=s.training.threads,
            min_gain_bits=s.training.min_gain_bits,
            max_forget_bits=s.training.max_forget_bits,
        )
        try:
            made = await trainer.finetune(job, _Heartbeats(self, run.id).progress)
        except TrainerFailed as exc:
            failed = await s.store.fail_training(run.id, str(exc), s.clock.now())
            log.warning("training run %s failed: %s", run.id, exc)
            if failed is not None:
                await self._announce(chat, TrainingNews(failed, None))
            return
        done, version = await s.store.finish_training(run.id, made, scope, text, s.clock.now())
        log.info("training run %s made version %s (%s)", run.id, version.number, version.status)
        await self._announce(chat, TrainingNews(done, version))
        await self._prune(run.lineage, trainer)

    async def _prune(self, lineage: str, trainer: Trainer) -> None:
        """Delete the folders a lineage no longer needs: rejected versions' (they never write)
        and promoted ones' beyond the newest `training.keep_versions` (the writing one stays).
        Only folders under the writers folder: never the shipped base. Records stay."""
        keep = self.s.training.keep_versions
        if keep == 0:
            return
        head = await self.s.store.writer_head(lineage)
        promoted = 0
        for version in await self.s.store.writer_versions(lineage, limit=None):
            promoted += version.status == "promoted"
            wanted = version.status == "promoted" and promoted <= keep
            if wanted or (head is not None and version.id == head.id):
                continue
            if Path(version.path).is_relative_to(self.writers_dir):
                await trainer.discard(version.path)

    async def _announce(self, chat: Chat | None, news: TrainingNews) -> None:
        """The chat that asked is told; a shared scheduled run tells every chat with a story."""
        if chat is not None:
            await self.s.announcer.training_finished(chat, news)
            return
        for other in await self.s.store.chats_with_open_stories():
            await self.s.announcer.training_finished(other, news)


class _Heartbeats:
    """Writes a running run's progress to the store, at most every HEARTBEAT_EVERY seconds."""

    def __init__(self, training: Training, run_id: int) -> None:
        self.training = training
        self.run_id = run_id
        self.last = float("-inf")

    async def progress(self, fraction: float) -> None:
        clock = self.training.s.clock
        if clock.now() - self.last < HEARTBEAT_EVERY:
            return
        self.last = clock.now()
        await self.training.s.store.heartbeat_training(self.run_id, fraction, clock.now())
