"""PostgreSQL's notifications (LISTEN), heard on a connection of their own that is opened again
whenever it is lost: how one process learns what another changed that it keeps in memory.

While the connection is down nothing is heard, so `hearing` is False and every loss or regain
is reported as `heard(None)` ("anything may have changed"): a cache built on this must neither
keep nor serve entries while not hearing, and must drop them all on None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

# Seconds between attempts to connect again, and between checks that a quiet connection is
# still there (a lost socket is usually noticed at once; a silent network break is not).
RETRY_SECONDS = 1.0
CHECK_SECONDS = 10.0

_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Listener:
    """LISTEN on one channel: `heard(payload)` for each notification, `heard(None)` when some
    may have been missed."""

    def __init__(self, url: str, channel: str, heard: Callable[[str | None], None]) -> None:
        self.url = url
        self.channel = channel
        self.heard = heard
        self.hearing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name=f"listen-{self.channel}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.hearing = False

    async def _listen(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=CHECK_SECONDS)
            except _CONNECTION_ERRORS:
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                await self._hear_until_lost(conn)
            except _CONNECTION_ERRORS as exc:
                log.warning("stopped hearing %s (%s): connecting again", self.channel, exc)
            except Exception:  # never left believed to hear
                log.exception("stopped hearing %s: connecting again", self.channel)
            finally:
                self._lost()
                conn.terminate()
            await asyncio.sleep(RETRY_SECONDS)

    async def _hear_until_lost(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self.channel, self._notified)
        self.heard(None)  # whatever changed before LISTEN began was not heard
        self.hearing = True
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), CHECK_SECONDS)
            if not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=CHECK_SECONDS)
        log.warning("stopped hearing %s (connection lost): connecting again", self.channel)

    def _lost(self) -> None:
        if self.hearing:
            self.hearing = False
            self.heard(None)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.heard(payload)
