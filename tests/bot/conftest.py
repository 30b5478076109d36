"""Fixtures for the relay core: a real SQLite store in a temp dir, and simple fakes of the
writer, clock and timer ports (fakes of ports, never of our own store)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.announce import Announcers
from bot.config import NovelsConfig, RelayConfig, TrainingConfig
from bot.core.context import Unannounced
from bot.core.ports import (
    FinetuneJob,
    TrainerFailed,
    WriterCandidate,
    WriterRequest,
    WriterUnavailable,
)
from bot.core.records import Chat, VersionFigures, WriterFacts
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.core.views import Actor, ChatKey, RoundResult, TrainingNews
from bot.i18n import languages
from storage import Database, SqlStore

CHAT = ChatKey("console", "test-chat", "Test chat")
ALICE = Actor("alice", "Alice")
BOB = Actor("bob", "Bob")
CAROL = Actor("carol", "Carol")
MOD = Actor("mod", "Moderator", is_moderator=True)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


@dataclass
class FakeTimers:
    armed: dict[int, float] = field(default_factory=dict)

    def arm(self, round_id: int, deadline: float) -> None:
        self.armed[round_id] = deadline

    def disarm(self, round_id: int) -> None:
        self.armed.pop(round_id, None)


class FakeWriter:
    """Answers with numbered candidates; can be told to fail, to wait for a signal, or to
    repeat one idea (as a writer at temperature 0 does)."""

    def __init__(self) -> None:
        self.requests: list[WriterRequest] = []
        self.fail = False
        self.gate: asyncio.Event | None = None
        self.scores: list[float] | None = None
        self.repeat: str | None = None  # every candidate is this text

    async def generate(self, request: WriterRequest) -> list[WriterCandidate]:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise WriterUnavailable("worker died")
        scores = self.scores or [-1.0 - i / 10 for i in range(request.n)]
        kw = f"{request.keyword} " if request.keyword else ""
        return [
            WriterCandidate(
                self.repeat or f"{kw}candidate {request.seed}-{i}.",
                scores[i % len(scores)],
                request.temperature,
                request.seed + i,
            )
            for i in range(request.n)
        ]

    async def info(self, writer: str = "") -> WriterFacts:
        return WriterFacts(
            model=writer or "fake",
            layers=2,
            rnn="LSTM",
            rnn_size=384,
            parameters=3_500_203,
            characters=1391,
            device="cpu",
            int8=False,
            held_out_bits={} if writer else {"ko": 4.273, "en": 1.789},
            validation_bits=None,
            steps=10_955,
            chars_seen=44_912_000,
        )


# A 1 x 1 PNG.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class FakeTrainer:
    """Stands in for the trainer process: records each job, reports progress, and answers
    promoted, rejected, or a failure, as told. Of a version's folder it writes only the
    loss-curve picture (platforms send it with /model)."""

    def __init__(self) -> None:
        self.jobs: list[FinetuneJob] = []
        self.promote = True
        self.fail: str | None = None
        self.verdict: dict[str, object] | None = None  # the trainer summary's "verdict"

    async def finetune(
        self, job: FinetuneJob, progress: Callable[[float], Awaitable[None]]
    ) -> VersionFigures:
        self.jobs.append(job)
        await progress(0.5)
        if self.fail is not None:
            raise TrainerFailed(self.fail)
        Path(job.out).mkdir(parents=True, exist_ok=True)
        (Path(job.out) / "loss.png").write_bytes(TINY_PNG)
        chars = sum(len(text) for _, text in job.texts)
        reason = "it learned" if self.promote else "it did not get better on this chat's text"
        said = json.dumps({"verdict": self.verdict} if self.verdict else {})
        return VersionFigures(job.out, self.promote, reason, chars, 4.5, 4.0, 2.3, 2.32, said)

    async def discard(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    async def kept(self, path: str) -> bool:
        return Path(path).is_dir()


@dataclass
class World:
    relay: Relay
    router: CommandRouter
    store: SqlStore
    writer: FakeWriter
    clock: FakeClock
    timers: FakeTimers
    db_path: Path
    announcers: Announcers  # platforms register here to be told when rounds end
    trainer: FakeTrainer


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db_path = tmp_path / "relay.db"
    async with Database(db_path) as db:
        store = SqlStore(db)
        writer, clock, timers = FakeWriter(), FakeClock(), FakeTimers()
        announcers, trainer = Announcers(), FakeTrainer()
        announcers.register("console", Unannounced())  # CHAT's platform runs, telling nobody
        relay = Relay(
            store,
            writer,
            clock,
            timers,
            RelayConfig(),
            NovelsConfig(min_chars=10),
            announcer=announcers,
            trainer=trainer,
            training=TrainingConfig(min_chars=50, min_new_chars=100),
            writers_url=str(tmp_path / "writers"),
            languages=languages(),
        )
        router = CommandRouter(relay)
        yield World(relay, router, store, writer, clock, timers, db_path, announcers, trainer)


async def start_story(world: World, lines: int = 2) -> None:
    """A story "Dragon" in CHAT with `lines` lines, Alice's and Bob's in turn."""
    await world.relay.new_story(CHAT, ALICE, "Dragon")
    for i in range(lines):
        await world.relay.write(CHAT, [ALICE, BOB][i % 2], f"Line {i + 1}.")


@dataclass
class Listener:
    """An announcer that keeps the training news it is told (tests of the living writer)."""

    news: list[tuple[str, TrainingNews]] = field(default_factory=list)

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Not these tests' business."""

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        self.news.append((chat.external_id, news))
