"""The living writer's records (storage/_writers.py) on a real SQLite file: versions, heads,
the training queue."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.core.ports import Store
from bot.core.records import Chat, GateVerdict, TrainingText, VersionFigures
from storage import NotFound
from tests.storage.helpers import T0


async def chat_with_text(store: Store, name: str, novel: str = "Once. " * 50) -> Chat:
    chat = await store.ensure_chat("console", name, name)
    story = await store.create_story(chat.id, f"{name}'s story", "u1", T0)
    await store.add_line(story.id, "human", "u1", "Ann", f"{name} begins.", T0)
    await store.add_line(story.id, "ai", "writer", "the writer", f"{name} goes on.", T0)
    await store.add_novel(chat.id, f"{name} novel", name * 32, novel, "u1", T0, "Ann", "CP949")
    return chat


def figures(path: str, promoted: bool, chars: int = 100) -> VersionFigures:
    return VersionFigures(path, promoted, "because", chars, 4.0, 3.5, 2.0, 2.02)


async def run_to_end(store: Store, lineage: str, scope: int | None, promoted: bool) -> int:
    """Queue, claim and finish one run; the version's number."""
    await store.queue_training(lineage, scope, "moderator", "mod", T0)
    run = await store.claim_training(T0 + 1)
    assert run is not None and run.lineage == lineage
    text = await store.training_text(scope)
    _, version = await store.finish_training(
        run.id, figures(f"w/{lineage}/run-{run.id}", promoted), scope, text, T0 + 2
    )
    return version.number


async def test_a_promoted_version_becomes_the_head_a_rejected_one_does_not(store: Store) -> None:
    """Versions number 1, 2, 3 per lineage; only promoted ones write; novels learned by a
    promoted version are marked trained."""
    chat = await chat_with_text(store, "a")
    lineage = f"chat-{chat.id}"
    assert await store.writer_head(lineage) is None  # the shipped base
    assert await run_to_end(store, lineage, chat.id, promoted=True) == 1
    head = await store.writer_head(lineage)
    assert head is not None and (head.number, head.status, head.parent_id) == (1, "promoted", None)
    assert [n.status for n in await store.novels(chat.id)] == ["trained"]
    assert await run_to_end(store, lineage, chat.id, promoted=False) == 2
    rejected = await store.writer_version(lineage, 2)
    assert rejected is not None and rejected.status == "rejected" and rejected.parent_id == head.id
    assert await store.writer_head(lineage) == head
    assert [v.number for v in await store.writer_versions(lineage)] == [2, 1]


async def test_one_lineage_never_touches_another(store: Store) -> None:
    """A second chat's head, versions and novels are untouched by the first chat's runs."""
    a, b = await chat_with_text(store, "a"), await chat_with_text(store, "b")
    await run_to_end(store, f"chat-{a.id}", a.id, promoted=True)
    assert await store.writer_head(f"chat-{b.id}") is None
    assert [n.status for n in await store.novels(b.id)] == ["queued"]
    assert await store.writer_versions(f"chat-{b.id}") == []


async def test_rollback_moves_the_head_in_its_own_lineage_only(store: Store) -> None:
    """The head can go back to an earlier version, or to the base; never to another lineage's."""
    a, b = await chat_with_text(store, "a"), await chat_with_text(store, "b")
    await run_to_end(store, f"chat-{a.id}", a.id, promoted=True)
    await run_to_end(store, f"chat-{a.id}", a.id, promoted=True)
    first = await store.writer_version(f"chat-{a.id}", 1)
    assert first is not None
    await store.set_writer_head(f"chat-{a.id}", first.id, T0 + 9)
    assert await store.writer_head(f"chat-{a.id}") == first
    with pytest.raises(NotFound):
        await store.set_writer_head(f"chat-{b.id}", first.id, T0 + 9)
    await store.set_writer_head(f"chat-{a.id}", None, T0 + 10)
    assert await store.writer_head(f"chat-{a.id}") is None


async def test_a_lineage_has_one_run_pending_and_the_queue_keeps_order(store: Store) -> None:
    """Queueing twice gives the pending run back; runs are claimed oldest first."""
    first, created = await store.queue_training("chat-1", None, "schedule", "", T0)
    again, created_again = await store.queue_training("chat-1", None, "moderator", "m", T0 + 1)
    assert created and not created_again and again == first
    second, _ = await store.queue_training("chat-2", None, "schedule", "", T0 + 2)
    assert await store.training_ahead(second.id) == 1
    claimed = await store.claim_training(T0 + 3)
    assert claimed is not None and claimed.id == first.id and claimed.status == "running"
    assert await store.training_ahead(second.id) == 1  # the running one
    assert await store.training_ahead(first.id) == 0  # running itself: nothing before it
    await store.heartbeat_training(first.id, 0.5, T0 + 4)
    (beat,) = await store.training_runs("chat-1")
    assert (beat.id, beat.heartbeat_at, beat.progress) == (first.id, T0 + 4, 0.5)
    assert (await store.claim_training(T0 + 5)).id == second.id  # type: ignore[union-attr]
    assert await store.claim_training(T0 + 6) is None


async def test_a_restart_fails_running_runs_and_keeps_queued_ones(store: Store) -> None:
    """Runs left running by a stopped bot are failed with the reason; queued ones wait on."""
    running, _ = await store.queue_training("chat-1", None, "schedule", "", T0)
    waiting, _ = await store.queue_training("chat-2", None, "schedule", "", T0)
    await store.claim_training(T0 + 1)
    (failed,) = await store.fail_running_training("interrupted by a restart", T0 + 2)
    assert (failed.id, failed.status, failed.error) == (
        running.id,
        "failed",
        "interrupted by a restart",
    )
    assert (await store.pending_training("chat-2")) == waiting
    again, created = await store.queue_training("chat-1", None, "schedule", "", T0 + 3)
    assert created and again.id != running.id  # the next schedule tries again
    assert [r.status for r in await store.training_runs("chat-1")] == ["queued", "failed"]


async def test_training_text_is_every_novel_and_story_of_the_scope(store: Store) -> None:
    """Each novel and each story is its own text; undone lines and removed novels are left out."""
    a = await chat_with_text(store, "a")
    await chat_with_text(store, "b")
    story = await store.open_story(a.id)
    assert story is not None
    await store.add_line(story.id, "human", "u2", "Bo", "undone", T0)
    await store.remove_last_line(story.id, T0)
    text = await store.training_text(a.id)
    assert [name for name, _ in text.texts] == ["novel 1: a novel", "story 1: a's story"]
    assert text.texts[1][1] == "a begins.\na goes on."
    everything = await store.training_text(None)
    assert len(everything.texts) == 4 and everything.chars == 2 * text.chars


async def test_new_text_is_counted_since_the_lineages_last_finished_run(store: Store) -> None:
    """After a run, only novels and lines added later count as new, per lineage."""
    a, b = await chat_with_text(store, "a"), await chat_with_text(store, "b")
    before = dict((c.id, n) for c, n in await store.chats_with_new_text(1))
    assert before[a.id] == before[b.id] == 300 + len("a begins.") + len("a goes on.")
    await run_to_end(store, f"chat-{a.id}", a.id, promoted=False)  # rejected: still a finish
    assert await store.new_training_chars(f"chat-{a.id}", a.id) == 0
    story = await store.open_story(a.id)
    assert story is not None
    await store.add_line(story.id, "human", "u1", "Ann", "x" * 40, T0)
    assert await store.new_training_chars(f"chat-{a.id}", a.id) == 40
    assert [(c.id, n) for c, n in await store.chats_with_new_text(41)] == [(b.id, before[b.id])]
    assert await store.new_training_chars("shared", None) == 2 * before[a.id] + 40


async def test_a_finished_run_is_not_finished_twice(store: Store) -> None:
    """Finishing a run that is not running (e.g. failed meanwhile) changes nothing."""
    run, _ = await store.queue_training("chat-1", None, "schedule", "", T0)
    await store.claim_training(T0)
    assert (await store.fail_training(run.id, "killed", T0 + 1)) is not None
    assert await store.fail_training(run.id, "again", T0 + 2) is None
    with pytest.raises(NotFound):
        await store.finish_training(run.id, figures("x", True), None, TrainingText([], 0, 0), T0)
    assert await store.writer_versions("chat-1") == []


async def test_a_version_keeps_the_gates_verdict_from_the_trainers_summary(store: Store) -> None:
    """The verdict in the trainer's summary reads back as a record; a summary without one (a
    version recorded before the gate said it), or a broken one, reads back as None."""
    chat = await chat_with_text(store, "g")
    lineage = f"chat-{chat.id}"
    said = {"code": "forgetting", "language": "ko", "before": 4.3, "after": 4.36, "limit": 0.05}
    for number, info in enumerate(
        [json.dumps({"verdict": said, "reason": "r"}), "{}", '{"verdict": {"code": 1}}', "["],
        start=1,
    ):
        await store.queue_training(lineage, chat.id, "moderator", "mod", T0)
        run = await store.claim_training(T0 + 1)
        assert run is not None
        made = dataclasses.replace(figures(f"w/{number}", False), info_json=info)
        text = await store.training_text(chat.id)
        await store.finish_training(run.id, made, chat.id, text, T0 + 2)
    versions = {v.number: v.verdict for v in await store.writer_versions(lineage)}
    assert versions == {
        1: GateVerdict("forgetting", "ko", 4.3, 4.36, 0.05),
        2: None,
        3: None,
        4: None,
    }
