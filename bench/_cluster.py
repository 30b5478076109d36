"""The members of bench/cluster_load.py: Telegram groups playing whole rounds through the fake Bot
API of the tests, what they were told, and the count of what the database kept."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from storage import SqlStore, open_database
from tests.bot.platforms.telegram.fake_bot_api import (
    JSON,
    Call,
    FakeBotAPI,
    administrator,
    group,
    user,
)
from tests.bot.platforms.telegram.fake_webhook import MAX_ATTEMPTS

SENDERS = 40  # webhook connections at once (Telegram's default max_connections)
ANSWER_SECONDS = 60.0  # a member who hears nothing for this long asks again
FAIL_SECONDS = 10.0  # a bot process that failed a POST is passed over for this long
CONTINUE_SECONDS = 200.0  # /continue waits for the writer: people wait longer for it
ROUND_END_SECONDS = 600.0  # how long a group waits for its round's end to be shown
_CALLBACK = re.compile(r"v:(\d+):(\d)")


class Recorder(FakeBotAPI):
    """The fake Bot API, also noting when each message reached each chat, and POSTing updates
    over SENDERS connections at once, as Telegram does (its webhook's max_connections, 40 by
    default): the tests' fake sends one at a time, which would measure the fake. A call wakes
    only those waiting for it (its chat's members, the tapper of its button): with a thousand
    groups, waking every waiter on every call made the bench, not the bots, the slow part."""

    def __init__(self) -> None:
        super().__init__()
        self.chat_calls: dict[int, list[tuple[float, Call]]] = defaultdict(list)
        self.answers: dict[str, tuple[float, str]] = {}
        self.timed_calls: list[tuple[float, Call]] = []  # every call the bots made, when
        self._chat_news: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._answered: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        # Each update POSTed: queued, POSTed, answered (monotonic), and to which process.
        self.deliveries: list[tuple[float, float, float, str]] = []
        self._outbox: asyncio.Queue[tuple[float, JSON]] = asyncio.Queue()
        self._senders: list[asyncio.Task[None]] = []
        self._failed: dict[str, float] = {}  # backend -> until when it is passed over

    def push(self, body: JSON) -> int:
        """An update for the webhook's senders (no getUpdates here: nothing else reads it)."""
        update_id = next(self._update_ids)
        self._outbox.put_nowait((time.monotonic(), {"update_id": update_id, **body}))
        return update_id

    def _start_webhook(self) -> None:
        loop = asyncio.get_running_loop()
        self._senders = [loop.create_task(self._send_some()) for _ in range(SENDERS)]

    async def _stop_webhook(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)

    async def _send_some(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._closing:
                queued, update = await self._outbox.get()
                while self.webhook is None or not self.backends:  # not registered yet
                    await asyncio.sleep(0.05)
                await self._deliver(session, update, queued)

    async def _deliver(self, session: aiohttp.ClientSession, update: JSON, queued: float) -> None:
        """POST until a bot process answers 2xx, as a load balancer does (nginx's
        `proxy_next_upstream` with `max_fails=1 fail_timeout=10s`): a process that failed is
        passed over for FAIL_SECONDS, the next one is tried at once, and only when every one
        has failed is there a pause before the next try."""
        for _attempt in range(MAX_ATTEMPTS):
            now = time.monotonic()
            healthy = [b for b in self.backends if self._failed.get(b, 0.0) <= now]
            choices = healthy or self.backends
            backend = choices[self._turn % len(choices)]
            self._turn += 1
            posted = time.monotonic()
            status = await self._post(session, backend, update)
            self.deliveries.append((queued, posted, time.monotonic(), backend))
            if 200 <= status < 300:
                return
            self._failed[backend] = time.monotonic() + FAIL_SECONDS
            if not healthy or healthy == [backend]:
                await asyncio.sleep(0.2)

    async def _record(self, call: Call) -> None:
        now = time.monotonic()
        if call.method != "getUpdates" or call.result:
            self.calls.append(call)
            self.timed_calls.append((now, call))
        if call.method == "answerCallbackQuery":
            query = str(call.params["callback_query_id"])
            self.answers[query] = (now, _text(call.params))
            self._answered[query].set()
        elif isinstance(call.result, dict) and "chat" in call.result:
            chat_id = call.result["chat"]["id"]
            self.chat_calls[chat_id].append((now, call))
            self._chat_news[chat_id].set()

    def chat_news(self, chat_id: int) -> asyncio.Event:
        """Set whenever a call reaches this chat."""
        return self._chat_news[chat_id]

    async def answered(self, query: str, patience: float) -> None:
        """Until the bot answers this button tap (or patience runs out)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answered[query].wait(), patience)
        self._answered.pop(query, None)


@dataclass
class Chats:
    """Every group of the load and what its members were told."""

    chats: int
    members: int
    rounds: int
    length: int
    vote_spread: float  # members of a group tap within about this many seconds, as people do
    fake: Recorder = field(default_factory=Recorder)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    vote_ms: list[float] = field(default_factory=list)
    vote_started: list[float] = field(default_factory=list)  # when each tap was sent (monotonic)
    continue_ms: list[float] = field(default_factory=list)
    retries: int = 0
    lines_told: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    votes_told: dict[int, dict[int, bool]] = field(default_factory=lambda: defaultdict(dict))
    continues: int = 0
    ends_unseen: int = 0
    together: asyncio.Barrier = field(default_factory=lambda: asyncio.Barrier(1))

    async def play_all(self) -> None:
        self.together = asyncio.Barrier(self.chats)
        await asyncio.gather(*(self.play(index) for index in range(self.chats)))

    async def play(self, index: int) -> None:
        """One group: a story, then each round: every member writes, /continue, every member
        votes, the round ends at its deadline. All groups take each step together, so votes are
        measured while no generation is in flight."""
        chat = group(-1_000_000_000 - index, f"Room {index}")
        members = [user(100_000 + index * 10 + m, f"M{m}") for m in range(self.members)]
        self.fake.admins[chat["id"]] = [administrator(members[0], owner=True)]
        await self.say(chat, members[0], "/story new Harbour", lambda c: "story" in _text(c))
        for number in range(self.rounds):
            for m, member in enumerate(members):
                line = f"Room {index} round {number} member {m} writes."
                await self.say(chat, member, f"/write {line}", lambda c: "added" in _text(c))
                self.lines_told[chat["id"]].append(line)
            await self.together.wait()
            started = time.monotonic()
            shown = await self.say(
                chat, members[0], f"/continue {self.length}", _round_message, CONTINUE_SECONDS
            )
            self.continue_ms.append((time.monotonic() - started) * 1000)
            self.continues += 1
            if self.continues >= self.chats * self.rounds // 2:
                self.opened.set()
            buttons = shown.params["reply_markup"]["inline_keyboard"]
            data = [b["callback_data"] for row in buttons for b in row]
            round_id = int(_CALLBACK.fullmatch(data[0])[1])  # type: ignore[index]
            await self.together.wait()
            for m, member in enumerate(members):
                await asyncio.sleep(random.uniform(0, self.vote_spread / len(members)))
                message_id = shown.result["message_id"]
                if await self.vote(chat, member, message_id, data[m % len(data)]):
                    self.votes_told[round_id][member["id"]] = True
            await self.ended(chat["id"], shown.result["message_id"])

    async def say(
        self,
        chat: JSON,
        member: JSON,
        text: str,
        answer: Any,
        patience: float = ANSWER_SECONDS,
    ) -> Call:
        """A command, asked again until an answer comes; the answer."""
        while True:
            seen = len(self.fake.chat_calls[chat["id"]])
            self.fake.command(chat, member, text)
            found = await self.next_call(chat["id"], seen, answer, patience)
            if found is not None:
                return found
            self.retries += 1

    async def vote(self, chat: JSON, member: JSON, message_id: int, data: str) -> bool:
        """A tap on a vote button, tapped again until answered (and again when the answer says
        the vote was taken back: a retry after an unanswered tap toggles it off). Whether the
        vote was counted (a refusal, such as a round that closed meanwhile, ends it too)."""
        while True:
            started = time.monotonic()
            query = self.fake.tap(member, chat["id"], message_id, data)
            await self.fake.answered(query, ANSWER_SECONDS)
            if query not in self.fake.answers:
                self.retries += 1
                continue
            at, said = self.fake.answers[query]
            self.vote_ms.append((at - started) * 1000)
            self.vote_started.append(started)
            if said.startswith("✅"):
                return True
            if not said.startswith("🗑"):
                return False
            self.retries += 1

    async def ended(self, chat_id: int, message_id: int) -> None:
        """Until the round message loses its keyboard (the round closed)."""

        def closed(call: Call) -> bool:
            return (
                call.method == "editMessageText"
                and call.params.get("message_id") == message_id
                and not call.params.get("reply_markup")
            )

        if await self.next_call(chat_id, 0, closed, ROUND_END_SECONDS) is None:
            self.ends_unseen += 1  # the round's end was never shown on its message

    async def next_call(
        self, chat_id: int, after: int, match: Any, patience: float
    ) -> Call | None:
        calls, news = self.fake.chat_calls[chat_id], self.fake.chat_news(chat_id)
        deadline = time.monotonic() + patience
        while True:
            news.clear()  # before the look: a call that comes after it sets it again
            for _, call in calls[after:]:
                if match(call):
                    return call
            after = len(calls)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), left)


def _text(item: Any) -> str:
    params = item.params if isinstance(item, Call) else item
    return str(params.get("text") or params.get("caption") or "")


def _round_message(call: Call) -> bool:
    return call.method == "sendMessage" and bool(call.params.get("reply_markup"))


async def count_outcome(db_target: str, chats: Chats, takeover: dict[str, float]) -> JSON:
    """What the database kept, against what members were told; how late rounds closed."""
    async with open_database(db_target) as db:
        store = SqlStore(db)
        rounds = await store.rounds_with_status(["generating", "voting", "closed", "cancelled"])
        stored_lines, winners = set(), Counter[int]()
        for chat_id in chats.lines_told:
            chat = await store.find_chat("telegram", str(chat_id))
            for story in await store.list_stories(chat.id) if chat else []:
                for line in await store.lines(story.id, include_removed=True):
                    if line.kind == "human":
                        stored_lines.add(line.text)
                    elif line.round_id is not None:
                        winners[line.round_id] += 1
        votes_kept = lags = 0
        lag_values: list[float] = []
        late_after_kill: list[float] = []
        for round_ in rounds:
            snapshot = await store.round_snapshot(round_.id)
            assert snapshot is not None
            kept = {v.member_id for v in snapshot.votes}
            told = {str(m) for m in chats.votes_told.get(round_.id, {})}
            votes_kept += len(told & kept)
            if round_.closed_at is not None and round_.deadline is not None:
                lag = round_.closed_at - round_.deadline
                lag_values.append(lag)
                lags += 1
                killed = takeover.get("killed_at")
                if killed is not None and killed <= round_.deadline <= takeover["restarted_at"]:
                    late_after_kill.append(lag)
    told_lines = [line for lines in chats.lines_told.values() for line in lines]
    told_votes = sum(len(v) for v in chats.votes_told.values())
    statuses = Counter(r.status for r in rounds)
    return {
        "lines": {"told_added": len(told_lines), "stored": len(set(told_lines) & stored_lines)},
        "votes": {"told_counted": told_votes, "stored": votes_kept},
        "rounds": {
            "opened": len(rounds),
            "closed": statuses["closed"],
            "cancelled": statuses["cancelled"],
            "still_open": statuses["voting"] + statuses["generating"],
            "closed_twice": sum(1 for n in winners.values() if n > 1),
        },
        "close_after_deadline_s": {
            "p50": round(statistics.median(lag_values), 2) if lag_values else None,
            "max": round(max(lag_values), 2) if lag_values else None,
        },
        "killed_process_rounds": {
            "due_while_it_was_down": len(late_after_kill),
            "max_close_after_deadline_s": round(max(late_after_kill), 2)
            if late_after_kill
            else None,
        },
    }
