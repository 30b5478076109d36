"""APScheduler 3.x wake-ups: round deadlines, and periodic jobs (the sweep of overdue rounds,
backups, queueing fine-tunes).

Deadlines live in the database; this only holds timers for them: `Relay.recover()` re-arms every
open round at start-up, and every process sweeps for overdue rounds every few seconds, so each
round closes on time even when the process that opened it is gone. No job store is shared
between processes (APScheduler's own FAQ advises against it): what must happen once per
interval across processes claims its turn in the database (`Relay.claim_periodic`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

RoundDue = Callable[[int], Awaitable[None]]


class Scheduler:
    """Implements the core's Timers port; `on_round_due` is set by whoever wires the app."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self.on_round_due: RoundDue | None = None

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def arm(self, round_id: int, deadline: float) -> None:
        when = datetime.fromtimestamp(max(deadline, time.time()), tz=UTC)
        self._scheduler.add_job(
            self._fire,
            DateTrigger(run_date=when),
            args=[round_id],
            id=_job_id(round_id),
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def disarm(self, round_id: int) -> None:
        # It may have fired already, or never been armed in this process.
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(round_id))

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        """A periodic job (the sweep of overdue rounds, backups, queueing fine-tunes)."""
        self._scheduler.add_job(
            _stoppable,
            IntervalTrigger(seconds=seconds),
            args=[name, job],
            id=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )

    async def _fire(self, round_id: int) -> None:
        on_round_due = self.on_round_due
        if on_round_due is None:
            return
        try:
            await _stoppable(f"closing round {round_id}", lambda: on_round_due(round_id))
        except Exception:  # a job must never kill the scheduler; the round stays open in SQLite
            log.exception("closing round %s at its deadline failed", round_id)


async def _stoppable(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Run a job; the bot stopping in the middle of it is not its failure. What it did is in the
    store (each change its own transaction); what it had left is redone by the next sweep, here
    or in another process. (APScheduler would log the cancellation as the job's error.)"""
    try:
        await job()
    except asyncio.CancelledError:
        log.info("%s was stopped by the shutdown; the next sweep finishes it", name)


def _job_id(round_id: int) -> str:
    return f"round:{round_id}"
