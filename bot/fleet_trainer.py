"""The bot's side of fine-tunes on the writer fleet: each run a Ray task, asked for over HTTP.

The bot imports neither torch nor Ray: it POSTs the run's job to the fleet's trainer
(engine/fleet_training.py) and reads the run as it goes, one JSON line at a time: heartbeats,
passed on to `progress`, then the summary `engine finetune --json` prints, read into the
version's figures exactly as the process trainer reads it (bot/trainer_wire.py). The run fails
with the process trainer's reasons: killed (the task's worker died, or the stream ended without
a summary), silent (no line for `hang_seconds`: the bot hangs up and the fleet cancels the task),
refused (the engine's own words), and one of its own: the trainer could not be reached. There is
no fallback to a local process; a failed run is retried at the next schedule, as always.

The task's folders are named as absolute paths (a version folder must be where every machine of
the fleet mounts it, at the same path, or in an s3:// store); the version is recorded under the
location the core chose. Discarding and looking versions up go through the artifact store, as
with the process trainer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.core.ports import FinetuneJob, TrainerFailed
from bot.core.records import VersionFigures
from bot.fleet_client import location
from bot.trainer_wire import (
    CRASHED,
    KILLED,
    SILENT,
    UNREACHABLE,
    StoredVersions,
    figures,
    json_line,
    refused,
)

__all__ = ["FleetTrainer", "job_fields"]

log = logging.getLogger(__name__)


def job_fields(job: FinetuneJob, gpus: float) -> dict[str, Any]:
    """The job as engine/fleet_training.py's `parse_job` reads it."""
    return {
        "run_id": job.run_id,
        "parent": location(job.parent),
        "base": location(job.base),
        "out": location(job.out),
        "texts": [[name, text] for name, text in job.texts],
        "time_budget": job.time_budget,
        "threads": job.threads,
        "min_gain_bits": job.min_gain_bits,
        "max_forget_bits": job.max_forget_bits,
        "gpus": gpus,
    }


class FleetTrainer(StoredVersions):
    """Implements the core's Trainer port with a Ray task per run, over the fleet's HTTP."""

    def __init__(self, url: str, hang_seconds: float = 180.0, gpus: float = 0.0) -> None:
        self.url = url.rstrip("/")  # what `python -m engine fleet deploy --trainer` printed
        self.hang_seconds = hang_seconds
        self.gpus = gpus  # GPUs each fine-tune task takes (0: it trains on its CPUs)
        self.pid: int | None = None  # of the running task's worker, as it said (tests kill it)

    async def finetune(
        self, job: FinetuneJob, progress: Callable[[float], Awaitable[None]]
    ) -> VersionFigures:
        timeout = aiohttp.ClientTimeout(total=None, connect=self.hang_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, read_bufsize=2**17) as session,
                session.post(f"{self.url}/finetune", json=job_fields(job, self.gpus)) as response,
            ):
                if response.status == 400:  # a job it cannot take: its words name why
                    raise TrainerFailed(refused(_error_of(await response.text())))
                if response.status != 200:  # no trainer deployed there, or Serve overloaded
                    said = _error_of(await response.text())
                    log.warning(
                        "run %s: %s answered %s: %s", job.run_id, self.url, response.status, said
                    )
                    raise TrainerFailed(UNREACHABLE)
                end = await self._follow(response.content, job, progress)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # refused, unresolvable, or no answer to connect: the job never got there
            log.warning("run %s: the fleet's trainer at %s: %s", job.run_id, self.url, exc)
            raise TrainerFailed(UNREACHABLE) from exc
        except (aiohttp.ClientError, ValueError) as exc:  # cut off mid-run, or a line over 256 kB
            log.warning("run %s: the stream from %s broke: %s", job.run_id, self.url, exc)
            raise TrainerFailed(KILLED) from exc
        finally:
            self.pid = None
        if end is None:  # the stream ended without an end: the ingress itself went away
            raise TrainerFailed(KILLED)
        if end.get("event") == "error":
            raise TrainerFailed(_why(end))
        return figures(end, job, path=job.out)  # recorded where the core put it

    async def _follow(
        self,
        content: aiohttp.StreamReader,
        job: FinetuneJob,
        progress: Callable[[float], Awaitable[None]],
    ) -> dict[str, Any] | None:
        """Pass heartbeats on; the run's last line (summary or error), None if there was none.
        Silence for hang_seconds, or a run far past its budget once started, is SILENT."""
        deadline: float | None = None  # set when the task starts (it may wait for room first)
        while True:
            wait = self.hang_seconds
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            try:
                raw = await asyncio.wait_for(content.readline(), max(wait, 0.0))
            except TimeoutError as exc:
                log.warning(
                    "run %s: no progress for %.0f s, or far past its %.0f s budget: hanging up",
                    job.run_id,
                    self.hang_seconds,
                    job.time_budget,
                )
                raise TrainerFailed(SILENT) from exc
            if not raw:
                return None
            event = json_line(raw.decode("utf-8", "replace"))
            if event is None:
                continue  # not a line of the protocol: nothing to pass on
            if event.get("event") != "progress":
                return event
            if "pid" in event:  # the task's first heartbeat: it runs now
                self.pid = int(event["pid"])
                deadline = time.monotonic() + job.time_budget * 2 + self.hang_seconds
            await progress(float(event.get("fraction") or 0.0))


def _why(end: dict[str, Any]) -> str:
    """A failed run's reason, for people, from the fleet's error line."""
    kind, reason = end.get("kind"), str(end.get("reason", ""))
    if kind == "refused":
        return refused(reason)
    log.warning("a fine-tune on the fleet ended (%s): %s", kind, reason)
    return KILLED if kind == "killed" else CRASHED


def _error_of(text: str) -> str:
    """What a refusing fleet said: its protocol's error, or the start of its text."""
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    if isinstance(reply, dict) and reply.get("error"):
        return str(reply["error"])
    return text[:200] or "no answer"
