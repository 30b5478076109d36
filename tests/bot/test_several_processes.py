"""Several bot processes on one PostgreSQL database, with no leader: each is a relay core on its
own connection pool (as each process has), racing the others over the same rows. Every round
closes once and is announced once, a dead process's rounds and runs are taken over, a run is
carried out by one process, a periodic job runs once per interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from bot.announce import Announcers
from bot.config import NovelsConfig, RelayConfig, TrainingConfig
from bot.core.context import SHOW_GRACE
from bot.core.errors import RelayError
from bot.core.ports import StoreUnavailable
from bot.core.records import Chat
from bot.core.relay import Relay
from bot.core.router import STORE_UNAVAILABLE, CommandRouter
from bot.core.training import SILENT_PROCESS
from bot.core.views import Actor, ChatKey, RoundResult, RoundView, TrainingNews
from bot.i18n import languages
from bot.platforms.discord.adapter import shard_of
from storage import PostgresDatabase, SqlStore
from tests.bot.conftest import (
    ALICE,
    BOB,
    CAROL,
    CHAT,
    MOD,
    FakeClock,
    FakeTimers,
    FakeTrainer,
    FakeWriter,
)
from tests.bot.counting import CountingStore
from tests.postgres_server import PostgresServer, new_database

T = TypeVar("T")


@dataclass
class Listener:
    """An announcer that remembers what its process told."""

    rounds: list[tuple[str, int]] = field(default_factory=list)
    news: list[TrainingNews] = field(default_factory=list)

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        self.rounds.append((result.reason, result.view.id))

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        self.news.append(news)


@dataclass
class ShardListener(Listener):
    """A Discord announcer on some of 2 shards: it takes the chats of its shards' guilds."""

    shards: tuple[int, ...] = ()

    def takes(self, chat: Chat) -> bool:
        return shard_of(int(chat.server), 2) in self.shards


@dataclass
class Poster(Listener):
    """A platform that posts a round as a message once it is open (Telegram): it records the
    rounds it posts, as the adapter does."""

    store: SqlStore | None = None
    posted: list[int] = field(default_factory=list)

    def posts_rounds(self, chat: Chat) -> bool:
        return True

    async def show_round(self, chat: Chat, view: RoundView) -> None:
        assert self.store is not None
        self.posted.append(view.id)
        await self.store.set_round_message(view.id, f"tg:1:{view.id}:")


@dataclass
class Process:
    relay: Relay
    told: Listener
    timers: FakeTimers
    trainer: FakeTrainer
    db: PostgresDatabase


@dataclass
class Cluster:
    clock: FakeClock
    processes: list[Process]
    server: PostgresServer


@pytest.fixture
async def cluster(postgres_server: PostgresServer, tmp_path: object) -> AsyncIterator[Cluster]:
    """Two processes on one fresh database, sharing a clock."""
    clock = FakeClock()
    async with new_database(postgres_server) as url, AsyncExitStack() as stack:
        processes = []
        for _ in range(2):
            db = await stack.enter_async_context(PostgresDatabase(url))
            told, timers, trainer = Listener(), FakeTimers(), FakeTrainer()
            announcers = Announcers()
            announcers.register("console", told)
            relay = Relay(
                SqlStore(db),
                FakeWriter(),
                clock,
                timers,
                RelayConfig(),
                NovelsConfig(min_chars=10),
                announcer=announcers,
                trainer=trainer,
                training=TrainingConfig(min_chars=50, min_new_chars=100),
                writers_url=str(tmp_path),
                languages=languages(),
                shared_database=True,
            )
            processes.append(Process(relay, told, timers, trainer, db))
        yield Cluster(clock, processes, postgres_server)


async def a_voting_round(relay: Relay) -> int:
    await relay.new_story(CHAT, ALICE, "Dragon")
    await relay.write(CHAT, ALICE, "The dragon woke.")
    opened = await relay.continue_story(CHAT, ALICE)
    await relay.vote(CHAT, BOB, 2)
    return opened.view.id


async def test_two_processes_racing_one_deadline_close_it_once(cluster: Cluster) -> None:
    """Both sweep at the deadline: one close, one announcement, one line."""
    first, second = cluster.processes
    round_id = await a_voting_round(first.relay)
    cluster.clock.t += 10_000
    await asyncio.gather(first.relay.close_overdue(), second.relay.close_overdue())
    told = first.told.rounds + second.told.rounds
    assert told == [("deadline", round_id)]
    story = await second.relay.show_story(CHAT)
    assert [line.kind for line in story.lines] == ["human", "ai"]


async def test_the_rounds_of_a_dead_process_close_on_time(cluster: Cluster) -> None:
    """The process that opened the round (and armed its timer) is gone; the other's sweep
    closes the round at its deadline, not before."""
    first, second = cluster.processes
    round_id = await a_voting_round(first.relay)
    assert round_id in first.timers.armed and second.timers.armed == {}
    await first.db.close()  # killed: its timers never fire
    assert await second.relay.close_overdue() == []  # not yet due
    cluster.clock.t = first.timers.armed[round_id] + 1
    ((_, result),) = await second.relay.close_overdue()
    assert result.winner is not None and result.winner.ordinal == 2
    assert second.told.rounds == [("deadline", round_id)]


async def test_two_processes_claim_one_training_run_once(cluster: Cluster) -> None:
    """One queued run: one process's trainer carries it out, the other finds nothing."""
    first, second = cluster.processes
    await first.relay.new_story(CHAT, ALICE, "Tiger")
    await first.relay.write(CHAT, ALICE, "The tiger woke. " * 10)
    await first.relay.train_now(CHAT, MOD)
    ran = await asyncio.gather(first.relay.training.run_next(), second.relay.training.run_next())
    assert sorted(ran) == [False, True]
    assert len(first.trainer.jobs) + len(second.trainer.jobs) == 1


async def test_a_run_whose_process_died_is_failed_and_told_by_another(cluster: Cluster) -> None:
    """A run left running by a dead process is not touched while its heartbeat is fresh (a
    process starting meanwhile leaves it), then failed by whoever sees it silent; the chat is
    told."""
    first, second = cluster.processes
    await first.relay.new_story(CHAT, ALICE, "Tiger")
    await first.relay.write(CHAT, ALICE, "The tiger woke. " * 10)
    await first.relay.train_now(CHAT, MOD)
    store = first.relay.ctx.store
    claimed = await store.claim_training(cluster.clock.now())
    assert claimed is not None
    await first.db.close()  # killed mid-run
    assert await second.relay.training.recover() == []  # another process's run: left alone
    cluster.clock.t += TrainingConfig().hang_seconds + 120
    (failed,) = await second.relay.training.fail_silent()
    assert failed.id == claimed.id and failed.status == "failed"
    assert failed.error == SILENT_PROCESS
    assert [news.run.id for news in second.told.news] == [claimed.id]


async def test_a_periodic_job_runs_once_per_interval(cluster: Cluster) -> None:
    """Both processes' schedules fire: one runs the job; in the next interval one again."""
    first, second = cluster.processes
    claims = await asyncio.gather(
        first.relay.claim_periodic("training", 600), second.relay.claim_periodic("training", 600)
    )
    assert sorted(claims) == [False, True]
    cluster.clock.t += 300
    assert not await second.relay.claim_periodic("training", 600)
    cluster.clock.t += 300
    assert await second.relay.claim_periodic("training", 600)
    assert not await first.relay.claim_periodic("training", 600)


async def test_a_database_restart_asks_members_to_try_again_and_loses_nothing(
    cluster: Cluster,
) -> None:
    """A command that meets the restart is refused with "try again"; the next one works; the
    votes acknowledged before are all there."""
    relay = cluster.processes[0].relay
    router = CommandRouter(relay)
    round_id = await a_voting_round(relay)
    await router.handle(CHAT, ALICE, "/vote 3")
    cluster.server.restart()
    said = []
    for _ in range(5):
        try:
            await router.handle(CHAT, CAROL, "/vote 1")
            break
        except RelayError as exc:
            said.append(exc.message)
    assert said and set(said) == {STORE_UNAVAILABLE}
    votes = await relay.ctx.store.round_snapshot(round_id)
    assert votes is not None
    assert sorted((v.member_id, v.ordinal) for v in votes.votes) == [
        ("alice", 3),
        ("bob", 2),
        ("carol", 1),
    ]


async def test_a_guilds_round_is_closed_by_the_process_holding_its_shard(cluster: Cluster) -> None:
    """Discord on 2 shards, one per process: at the deadline both sweep; the process holding the
    guild's shard closes its round, whichever process opened it."""
    guild = 80351110224678912  # on shard 1 of 2
    key = ChatKey("discord", "3000", "general", server=str(guild))
    holders = [ShardListener(shards=(0,)), ShardListener(shards=(1,))]
    for process, holder in zip(cluster.processes, holders, strict=True):
        assert isinstance(process.relay.ctx.announcer, Announcers)
        process.relay.ctx.announcer.register("discord", holder)
    first, second = cluster.processes
    await first.relay.new_story(key, ALICE, "Dragon")
    await first.relay.write(key, ALICE, "The dragon woke.")
    opened = await first.relay.continue_story(key, ALICE)
    cluster.clock.t += 10_000
    for _ in range(2):
        await asyncio.gather(first.relay.close_overdue(), second.relay.close_overdue())
    assert holders[0].rounds == []
    assert holders[1].rounds == [("deadline, no votes", opened.view.id)]


async def test_a_round_whose_process_died_before_posting_it_is_posted_once(
    cluster: Cluster,
) -> None:
    """The round was stored as open for votes and its process died before posting it (the first
    process here stands for its restart). Past the grace both sweep, long after its deadline:
    one posts it, with the whole vote time again; it closes once, at that new deadline."""
    posters = []
    for process in cluster.processes:
        assert isinstance(process.relay.ctx.announcer, Announcers)
        poster = Poster(store=SqlStore(process.db))
        process.relay.ctx.announcer.register("console", poster)
        posters.append(poster)
    round_id = await a_voting_round(cluster.processes[0].relay)  # its message never recorded
    cluster.clock.t += SHOW_GRACE + 10_000
    sweeps = [p.relay.close_overdue() for p in cluster.processes]
    assert await asyncio.gather(*sweeps) == [[], []]  # not closed: nobody has seen it
    assert posters[0].posted + posters[1].posted == [round_id]
    place = await cluster.processes[0].relay.ctx.store.place_of_round(round_id)
    assert place is not None and place.round is not None and place.round.message_ref
    assert place.round.deadline == cluster.clock.now() + RelayConfig().vote_seconds
    cluster.clock.t += RelayConfig().vote_seconds + 1
    await asyncio.gather(*(p.relay.close_overdue() for p in cluster.processes))
    assert posters[0].rounds + posters[1].rounds == [("deadline", round_id)]


async def test_votes_racing_a_close_are_counted_or_refused(cluster: Cluster) -> None:
    """Votes on PostgreSQL do not wait for every other writer (each locks its round's row, as
    the close does): 40 members tap through one process while the other closes the round at
    its deadline; every vote acknowledged is in the close's count, every other is refused."""
    first, second = cluster.processes
    round_id = await a_voting_round(first.relay)  # Bob's vote for 2
    cluster.clock.t += 10_000
    members = [Actor(f"m{i}", f"M{i}") for i in range(40)]

    async def vote(member: Actor, ordinal: int) -> str | None:
        await asyncio.sleep(0.002 * ordinal)
        try:
            await first.relay.vote(CHAT, member, ordinal, round_id=round_id)
        except RelayError:
            return None
        return member.member_id

    *votes, closed = await asyncio.gather(
        *(vote(m, 1 + i % 3) for i, m in enumerate(members)), second.relay.close_overdue()
    )
    ((_, result),) = closed
    acknowledged = {member for member in votes if member is not None}
    assert sum(c.votes for c in result.view.candidates) == len(acknowledged) + 1
    snapshot = await second.relay.ctx.store.round_snapshot(round_id)
    assert snapshot is not None
    assert {v.member_id for v in snapshot.votes} == acknowledged | {"bob"}


async def heard_in_time(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> bool:
    """Whether `check` comes true within `seconds` (a notice crosses processes at once, but
    not synchronously)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_a_language_set_on_one_process_is_spoken_by_the_others(cluster: Cluster) -> None:
    """Each process keeps a chat's language in memory; when a moderator changes it through one,
    the others speak the new one too, and they keep it in memory again."""
    first, second = cluster.processes
    for process in cluster.processes:
        await process.relay.start()
    assert await heard_in_time(lambda: hearing(cluster))
    await first.relay.new_story(CHAT, ALICE, "Dragon")
    assert await second.relay.language(CHAT) == "en"  # read once, then kept
    await first.relay.change_setting(CHAT, "language", "ko")

    async def second_speaks_korean() -> bool:
        return await second.relay.language(CHAT) == "ko"

    assert await heard_in_time(second_speaks_korean)
    reads = await counted_reads(second, CHAT)
    assert reads == 0  # kept in memory again


async def test_while_the_database_is_out_of_reach_no_language_is_kept(cluster: Cluster) -> None:
    """A change told while a process could not hear it (a restart of PostgreSQL) is not missed:
    not hearing, the process reads the language each time; hearing again, it keeps it."""
    first, second = cluster.processes
    await second.relay.start()
    assert await heard_in_time(lambda: hearing(cluster, [second]))
    await first.relay.new_story(CHAT, ALICE, "Dragon")
    assert await second.relay.language(CHAT) == "en"
    cluster.server.restart()
    # Each pooled connection may fail once after the restart (the member is asked to try again).
    await after_a_restart(lambda: first.relay.change_setting(CHAT, "language", "ko"))
    assert await after_a_restart(lambda: second.relay.language(CHAT)) == "ko"
    assert await heard_in_time(lambda: hearing(cluster, [second]))
    assert await second.relay.language(CHAT) == "ko"
    assert await counted_reads(second, CHAT) == 0


async def after_a_restart(call: Callable[[], Awaitable[T]]) -> T:
    """The call, tried again while a pooled connection fails for the restart (as members do)."""
    for _ in range(10):
        with contextlib.suppress(StoreUnavailable):
            return await call()
    return await call()


async def hearing(cluster: Cluster, processes: list[Process] | None = None) -> bool:
    return all(p.relay.ctx.store.hears_languages() for p in processes or cluster.processes)


async def counted_reads(process: Process, key: ChatKey) -> int:
    """How many store calls the chat's language costs the process now."""
    relay, store = process.relay, process.relay.ctx.store
    counting = CountingStore(process.db)  # type: ignore[arg-type]
    relay.ctx.store = counting  # type: ignore[assignment]
    try:
        await relay.language(key)
    finally:
        relay.ctx.store = store
    return len(counting.calls)
