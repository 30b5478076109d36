"""Load test of the whole relay loop: many chats playing full rounds at once.

50 chats x 5 members, each chat: a story, every member writes a line, /continue, every member
votes (one moves their vote), the round closes; repeated for --rounds. Everything is real: the
command router and relay core, SQLite through aiosqlite on a file, and the writer worker process.
Prints one JSON object: rounds per minute, command latency percentiles, the longest event-loop
stall, and a count check that no line or vote was lost.

    .venv/bin/python bench/relay_load.py [--chats 50] [--members 5] [--rounds 2] [--model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import NovelsConfig, RelayConfig
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.core.views import Actor, ChatKey
from bot.engine_client import EngineClient
from bot.scheduler import Scheduler
from storage import Database, SqlStore


class Clock:
    def now(self) -> float:
        return time.time()


class StallMeter:
    """Measures how late a 10 ms ticker wakes up: the longest time the loop was blocked."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.longest = max(self.longest, time.perf_counter() - before - 0.01)

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def play_chat(
    router: CommandRouter, chat: int, members: int, rounds: int, latencies: list[float]
) -> None:
    key = ChatKey("load", f"chat-{chat}", f"Chat {chat}")
    people = [Actor(f"m{chat}-{i}", f"Member {i}") for i in range(members)]
    moderator = Actor(f"mod{chat}", "Moderator", is_moderator=True)

    async def say(actor: Actor, text: str) -> None:
        started = time.perf_counter()
        await router.handle(key, actor, text)
        latencies.append(time.perf_counter() - started)

    await say(people[0], f"/story new Load test {chat}")
    for round_number in range(rounds):
        for i, person in enumerate(people):
            await say(person, f"/write Line {round_number}.{i} from member {i} of chat {chat}.")
        await say(people[round_number % members], "/continue 60")
        for i, person in enumerate(people):
            await say(person, f"/vote {1 + i % 3}")
        await say(people[0], "/vote 2")  # a moved vote
        await say(moderator, "/round close")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="weights/default")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        writer = EngineClient(args.model, timeout=300.0)
        await writer.start()
        scheduler = Scheduler()
        async with Database(Path(tmp) / "load.db") as db:
            store = SqlStore(db)
            relay = Relay(
                store, writer, Clock(), scheduler, RelayConfig(vote_seconds=3600), NovelsConfig()
            )
            router = CommandRouter(relay)
            latencies: list[float] = []
            meter = StallMeter()
            meter.start()
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    play_chat(router, chat, args.members, args.rounds, latencies)
                    for chat in range(args.chats)
                )
            )
            elapsed = time.perf_counter() - started
            meter.stop()
            counts = await count_rows(store, args.chats)
        await writer.close()

    expected_lines = args.chats * args.rounds * (args.members + 1)
    expected_votes = args.chats * args.rounds * args.members
    latencies.sort()
    print(
        json.dumps(
            {
                "chats": args.chats,
                "members": args.members,
                "rounds_per_chat": args.rounds,
                "model": args.model,
                "seconds": round(elapsed, 2),
                "rounds_per_minute": round(args.chats * args.rounds / elapsed * 60, 1),
                "commands": len(latencies),
                "latency_ms": {
                    "p50": round(statistics.median(latencies) * 1000, 1),
                    "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
                    "max": round(latencies[-1] * 1000, 1),
                },
                "longest_event_loop_stall_ms": round(meter.longest * 1000, 1),
                "lines": {"expected": expected_lines, "stored": counts["lines"]},
                "votes": {"expected": expected_votes, "stored": counts["votes"]},
                "nothing_lost": counts["lines"] == expected_lines
                and counts["votes"] == expected_votes,
            },
            indent=2,
        )
    )


async def count_rows(store: SqlStore, chats: int) -> dict[str, int]:
    """Lines and votes as stored, read back through the store."""
    closed = await store.rounds_with_status(["closed"])
    lines = votes = 0
    for chat in range(chats):
        found = await store.ensure_chat("load", f"chat-{chat}", "")
        story_ids = {story.id for story in await store.list_stories(found.id)}
        for story_id in story_ids:
            lines += len(await store.lines(story_id))
        for round_ in closed:
            if round_.story_id in story_ids:
                snapshot = await store.round_snapshot(round_.id)
                votes += len(snapshot.votes) if snapshot else 0
    return {"lines": lines, "votes": votes}


if __name__ == "__main__":
    asyncio.run(main())
