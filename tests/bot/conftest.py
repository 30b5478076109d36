"""Fixtures for the relay core: a real SQLite store in a temp dir, and simple fakes of the
writer, clock and timer ports (fakes of ports, never of our own store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.announce import Announcers
from bot.config import NovelsConfig, RelayConfig
from bot.core.commands import CommandRouter
from bot.core.ports import WriterCandidate, WriterRequest, WriterUnavailable
from bot.core.relay import Relay
from bot.core.views import Actor, ChatKey
from storage import Database, SqliteStore

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

    async def info(self, writer: str = "") -> dict[str, str]:
        return {"model": "fake"}


@dataclass
class World:
    relay: Relay
    router: CommandRouter
    store: SqliteStore
    writer: FakeWriter
    clock: FakeClock
    timers: FakeTimers
    db_path: Path
    announcers: Announcers  # platforms register here to be told when rounds end


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db_path = tmp_path / "relay.db"
    async with Database(db_path) as db:
        store = SqliteStore(db)
        writer, clock, timers = FakeWriter(), FakeClock(), FakeTimers()
        announcers = Announcers()
        relay = Relay(
            store,
            writer,
            clock,
            timers,
            RelayConfig(),
            NovelsConfig(min_chars=10),
            announcer=announcers,
        )
        yield World(relay, CommandRouter(relay), store, writer, clock, timers, db_path, announcers)
