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

from bot.core.context import NO_STORY, Context
from bot.core.errors import N_, RelayError
from bot.core.ports import FinetuneJob, Trainer, TrainerFailed, WriterUnavailable
from bot.core.records import Chat, TrainingRun
from bot.core.views import Actor, ChatKey, ModelView, TrainingNews, TrainingStatus

log = logging.getLogger(__name__)

RESTARTED = N_("the bot restarted while it was training.")  # a run's error, shown translated
# The run's error when the bot process carrying it out went silent (another process tells).
SILENT_PROCESS = N_("the bot process that was training it stopped answering.")
# A run whose heartbeat is older than hang_seconds and this lost its process: a live one has
# heard from its trainer (or stopped a silent one and failed the run) within hang_seconds.
SILENT_MARGIN = 60.0
PICTURE = "loss.png"  # the loss curves the trainer draws into each version's folder
HEARTBEAT_EVERY = 10.0  # seconds between heartbeats written to the store


class Training:
    def __init__(self, ctx: Context, trainer: Trainer | None, writers_url: str) -> None:
        self.ctx = ctx
        self.trainer = trainer
        self.writers_url = writers_url  # where versions are kept: a folder or s3://bucket/prefix
        self._wake = asyncio.Event()

    # -- commands -------------------------------------------------------------------------------

    async def train_now(self, key: ChatKey, actor: Actor) -> TrainingStatus:
        """/train now: queue a fine-tune of the chat's writer at once (moderators)."""
        ctx = self.ctx
        chat = await self._chat(key)
        text = await ctx.store.training_text(ctx.scope(chat))
        if text.chars < ctx.training.min_chars:
            raise RelayError(
                "There is too little to learn from yet ({count} characters; {least} needed). "
                "Add a novel with /novel add, or write more.",
                count=text.chars,
                least=ctx.training.min_chars,
            )
        _run, created = await ctx.store.queue_training(
            ctx.lineage(chat), chat.id, "moderator", actor.member_id, ctx.clock.now()
        )
        self._wake.set()
        return await self._status(chat, queued_now=created)

    async def status(self, key: ChatKey) -> TrainingStatus:
        """/train: where the chat's fine-tune stands."""
        return await self._status(await self._chat(key), queued_now=False)

    async def _status(self, chat: Chat, queued_now: bool) -> TrainingStatus:
        store, lineage = self.ctx.store, self.ctx.lineage(chat)
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
            new_chars=await store.new_training_chars(lineage, self.ctx.scope(chat)),
        )

    async def model(self, key: ChatKey) -> ModelView:
        """/model: the chat's writer, its lineage, its last runs, its loss curves."""
        chat = await self._chat(key)
        return await self._model(chat)

    async def rollback(self, key: ChatKey, actor: Actor, number: int) -> ModelView:
        """/model rollback <version>: an earlier promoted version (0: the shipped base) writes
        again at once (moderators)."""
        ctx = self.ctx
        chat = await self._chat(key)
        lineage = ctx.lineage(chat)
        if number == 0:
            await ctx.store.set_writer_head(lineage, None, ctx.clock.now())
            return await self._model(chat, rolled_back=True)
        version = await ctx.store.writer_version(lineage, number)
        if version is None:
            raise RelayError(
                "This chat's writer has no version {number}. See /model.", number=number
            )
        if version.status != "promoted":
            raise RelayError("Version {number} was rejected; it cannot write.", number=number)
        if not await self._kept(version.path):
            raise RelayError(
                "Version {number} was deleted to save space (only the newest versions are "
                "kept); it cannot write again.",
                number=number,
            )
        await ctx.store.set_writer_head(lineage, version.id, ctx.clock.now())
        return await self._model(chat, rolled_back=True)

    async def _model(self, chat: Chat, rolled_back: bool = False) -> ModelView:
        store, lineage = self.ctx.store, self.ctx.lineage(chat)
        active = await store.writer_head(lineage)
        try:
            facts = await self.ctx.writer.info(active.path if active else "")
        except WriterUnavailable as exc:
            raise RelayError("The writer is restarting; ask again in a moment.") from exc
        return ModelView(
            facts=facts,
            active=active,
            versions=await store.writer_versions(lineage, 5),
            runs=await store.training_runs(lineage, 3),
            picture=_picture(active.path) if active else None,
            rolled_back=rolled_back,
        )

    async def _chat(self, key: ChatKey) -> Chat:
        place = await self.ctx.place(key)
        if place is None:
            raise RelayError(NO_STORY)
        return place.chat

    # -- the schedule ---------------------------------------------------------------------------

    async def queue_due(self) -> list[TrainingRun]:
        """The periodic job: queue a run for every lineage with enough new text."""
        ctx = self.ctx
        now, least = ctx.clock.now(), ctx.training.min_new_chars
        queued: list[TrainingRun] = []
        if ctx.training.shared_writer:
            if await ctx.store.new_training_chars("shared", None) >= least:
                run, created = await ctx.store.queue_training("shared", None, "schedule", "", now)
                queued += [run] if created else []
        else:
            for chat, _chars in await ctx.store.chats_with_new_text(least):
                run, created = await ctx.store.queue_training(
                    ctx.lineage(chat), chat.id, "schedule", "", now
                )
                queued += [run] if created else []
        if queued:
            self._wake.set()
        return queued

    # -- the worker loop ------------------------------------------------------------------------

    async def recover(self) -> list[TrainingRun]:
        """At start-up: runs a stopped bot left running are failed (queued ones wait on). On a
        shared database only silent ones: the others are other processes' runs."""
        if self.ctx.shared_database:
            return await self.fail_silent()
        failed = await self.ctx.store.fail_running_training(RESTARTED, self.ctx.clock.now())
        for run in failed:
            log.warning("training run %s was interrupted by a restart", run.id)
        return failed

    async def fail_silent(self) -> list[TrainingRun]:
        """Runs whose heartbeat stopped (their bot process died) fail, and their chats are told;
        every process looks now and then, so no run waits on a dead one for ever."""
        ctx = self.ctx
        now = ctx.clock.now()
        silent_since = now - (ctx.training.hang_seconds + SILENT_MARGIN)
        failed = await ctx.store.fail_running_training(
            SILENT_PROCESS, now, silent_since=silent_since
        )
        for run in failed:
            log.warning("training run %s lost its bot process; failed", run.id)
            chat = await ctx.store.get_chat(run.chat_id) if run.chat_id is not None else None
            await self._announce(chat, TrainingNews(run, None))
        return failed

    async def work(self, poll_seconds: float = 30.0) -> None:
        """Run queued fine-tunes one at a time, for ever (cancel to stop)."""
        while True:
            try:
                await self.fail_silent()
                while await self.run_next():
                    pass
            except Exception:  # a bug or a store failure must not stop learning for good
                log.exception("the training worker failed; it goes on at the next wake-up")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # look at the queue now and then anyway
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    async def run_next(self) -> bool:
        """Claim the oldest queued run and carry it out; False when the queue is empty."""
        ctx = self.ctx
        if self.trainer is None:
            return False
        run = await ctx.store.claim_training(ctx.clock.now())
        if run is None:
            return False
        try:
            await self._carry_out(run, self.trainer)
        except Exception as exc:  # never leave a run 'running': its lineage would wait for ever
            await ctx.store.fail_training(run.id, f"the bot failed: {exc}", ctx.clock.now())
            raise
        return True

    async def _carry_out(self, run: TrainingRun, trainer: Trainer) -> None:
        """One claimed run: its text, its parent, the trainer, the record, the news."""
        ctx = self.ctx
        chat = await ctx.store.get_chat(run.chat_id) if run.chat_id is not None else None
        scope = None if run.lineage == "shared" else run.chat_id
        text = await ctx.store.training_text(scope)
        parent = await ctx.store.get_writer_version(run.parent_id) if run.parent_id else None
        job = FinetuneJob(
            run_id=run.id,
            parent=parent.path if parent else ctx.policy.model_dir,
            base=ctx.policy.model_dir,
            out=version_location(self.writers_url, run.lineage, run.id),
            texts=text.texts,
            time_budget=ctx.training.time_budget_seconds,
            threads=ctx.training.threads,
            min_gain_bits=ctx.training.min_gain_bits,
            max_forget_bits=ctx.training.max_forget_bits,
        )
        try:
            made = await trainer.finetune(job, _Heartbeats(self, run.id).progress)
        except TrainerFailed as exc:
            failed = await ctx.store.fail_training(run.id, str(exc), ctx.clock.now())
            log.warning("training run %s failed: %s", run.id, exc)
            if failed is not None:
                await self._announce(chat, TrainingNews(failed, None))
            return
        done, version = await ctx.store.finish_training(run.id, made, scope, text, ctx.clock.now())
        log.info("training run %s made version %s (%s)", run.id, version.number, version.status)
        await self._announce(chat, TrainingNews(done, version))
        await self._prune(run.lineage, trainer)

    async def _prune(self, lineage: str, trainer: Trainer) -> None:
        """Delete the versions a lineage no longer needs: rejected ones (they never write) and
        promoted ones beyond the newest `training.keep_versions` (the writing one stays). Only
        locations under `training.writers_url`: never the shipped base. Records stay."""
        keep = self.ctx.training.keep_versions
        if keep == 0:
            return
        head = await self.ctx.store.writer_head(lineage)
        promoted = 0
        for version in await self.ctx.store.writer_versions(lineage, limit=None):
            promoted += version.status == "promoted"
            wanted = version.status == "promoted" and promoted <= keep
            if wanted or (head is not None and version.id == head.id):
                continue
            if _under(version.path, self.writers_url):
                await trainer.discard(version.path)

    async def _kept(self, path: str) -> bool:
        """Whether a version's files are still there (pruning deletes old ones)."""
        if self.trainer is None:
            return Path(path).is_dir()
        return await self.trainer.kept(path)

    async def _announce(self, chat: Chat | None, news: TrainingNews) -> None:
        """The chat that asked is told; a shared scheduled run tells every chat with a story."""
        if chat is not None:
            await self.ctx.announcer.training_finished(chat, news)
            return
        for other in await self.ctx.store.chats_with_open_stories():
            await self.ctx.announcer.training_finished(other, news)


def version_location(writers_url: str, lineage: str, run_id: int) -> str:
    """Where a run's version goes: `<writers_url>/<lineage>/run-<id>`, a folder or an s3://
    key prefix (storage.artifacts.join's rule; the core imports no storage)."""
    if _is_url(writers_url):
        return f"{writers_url.rstrip('/')}/{lineage}/run-{run_id}"
    return str(Path(writers_url) / lineage / f"run-{run_id}")


def _under(location: str, writers_url: str) -> bool:
    """Whether a version lies under the writers' store (what pruning may delete)."""
    if _is_url(writers_url) or _is_url(location):
        return location.startswith(writers_url.rstrip("/") + "/")
    return Path(location).is_relative_to(writers_url)


def _is_url(location: str) -> bool:
    return "://" in location


def _picture(location: str) -> str | None:
    """A version's loss curves, which platforms send from a local file: none from a store."""
    return None if _is_url(location) else str(Path(location) / PICTURE)


class _Heartbeats:
    """Writes a running run's progress to the store, at most every HEARTBEAT_EVERY seconds."""

    def __init__(self, training: Training, run_id: int) -> None:
        self.training = training
        self.run_id = run_id
        self.last = float("-inf")

    async def progress(self, fraction: float) -> None:
        clock = self.training.ctx.clock
        if clock.now() - self.last < HEARTBEAT_EVERY:
            return
        self.last = clock.now()
        await self.training.ctx.store.heartbeat_training(self.run_id, fraction, clock.now())
