"""bot/scheduler.py with the real APScheduler: a bot stopping while a job runs is not logged as
the job failing (its work is in the store, and the next sweep finishes it)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.scheduler import Scheduler


async def test_a_stop_in_the_middle_of_a_job_is_not_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both kinds of job (a round's deadline, a periodic sweep) cancelled mid-run, as the end
    of asyncio.run cancels them: told at INFO, not logged as an error."""
    scheduler = Scheduler()
    running: list[asyncio.Task[object]] = []
    both_run = asyncio.Event()

    async def hang() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        if len(running) == 2:
            both_run.set()
        await asyncio.sleep(3600)

    async def round_due(round_id: int) -> None:
        await hang()

    scheduler.on_round_due = round_due
    scheduler.every("sweep", 0.05, hang)
    scheduler.arm(7, time.time())
    caplog.set_level(logging.INFO)
    scheduler.start()
    try:
        await asyncio.wait_for(both_run.wait(), 10)
    finally:
        scheduler.shutdown()
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "closing round 7 was stopped by the shutdown" in caplog.text
    assert "sweep was stopped by the shutdown" in caplog.text
