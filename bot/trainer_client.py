"""The bot's side of fine-tuning: each run in a process of its own, `python -m engine finetune`.

The bot never imports torch. The job's texts are written to a scratch folder, the trainer is
spawned with one torch thread (generation keeps serving meanwhile), and its heartbeats (JSON
lines on stderr) are passed on. A trainer that dies, goes silent for `hang_seconds`, or runs far
past its time budget is killed, and the run fails with the reason; the chat's writer is never
touched (the new version only exists once the trainer renamed it into place or published it
whole, and only counts once the store recorded it).

Versions are kept where `training.writers_url` says (storage/artifacts.py: a folder, or s3://
for a fleet); discarding and looking one up go through that store, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core.ports import FinetuneJob, TrainerFailed
from bot.core.records import VersionFigures
from bot.trainer_wire import (
    CRASHED,
    KILLED,
    NO_SUMMARY,
    SILENT,
    StoredVersions,
    figures,
    json_line,
    refused,
)
from storage import artifacts

# The reasons are bot/trainer_wire.py's, shared with the fleet's trainer; named here too.
__all__ = ["CRASHED", "KILLED", "NO_SUMMARY", "SILENT", "EngineTrainer"]

log = logging.getLogger(__name__)

_TAIL = 20  # stderr lines kept to explain a failure


class EngineTrainer(StoredVersions):
    """Implements the core's Trainer port with a child process per run."""

    def __init__(self, hang_seconds: float = 180.0, scratch: str | None = None) -> None:
        self.hang_seconds = hang_seconds
        self.scratch = scratch  # where job texts are written (the system's temp dir if None)
        self.pid: int | None = None  # of the running trainer (tests kill it)

    async def finetune(
        self, job: FinetuneJob, progress: Callable[[float], Awaitable[None]]
    ) -> VersionFigures:
        folder = Path(tempfile.mkdtemp(prefix=f"relaytale-run-{job.run_id}-", dir=self.scratch))
        try:
            files = _write_texts(folder, job.texts)
            return await self._run(job, files, progress)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _run(
        self, job: FinetuneJob, files: list[Path], progress: Callable[[float], Awaitable[None]]
    ) -> VersionFigures:
        if not artifacts.is_remote(job.out):
            Path(job.out).parent.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            *_command(job, files),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 * 1024 * 1024,
        )
        self.pid = process.pid
        assert process.stdout is not None and process.stderr is not None
        tail: list[str] = []
        reading = asyncio.create_task(process.stdout.read())
        limit = job.time_budget * 2 + self.hang_seconds
        try:
            await asyncio.wait_for(self._watch(process.stderr, tail, progress), limit)
            out = await asyncio.wait_for(reading, self.hang_seconds)
            code = await asyncio.wait_for(process.wait(), self.hang_seconds)
        except TimeoutError as exc:
            log.warning(
                "run %s: no progress for %.0f s, or far past its %.0f s budget: stopping it",
                job.run_id,
                self.hang_seconds,
                job.time_budget,
            )
            raise TrainerFailed(SILENT) from exc
        finally:
            self.pid = None
            reading.cancel()
            if process.returncode is None:
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
        if code != 0:
            raise TrainerFailed(_why(code, tail))
        return _figures(out, job)

    async def _watch(
        self,
        stderr: asyncio.StreamReader,
        tail: list[str],
        progress: Callable[[float], Awaitable[None]],
    ) -> None:
        """Pass heartbeats on until the trainer closes stderr; silence ends in TimeoutError."""
        while True:
            raw = await asyncio.wait_for(stderr.readline(), self.hang_seconds)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").strip()
            event = json_line(line)
            if event is not None and event.get("event") == "progress":
                await progress(float(event.get("fraction") or 0.0))
            elif line:
                tail[:] = [*tail[-(_TAIL - 1) :], line]


def _write_texts(folder: Path, texts: list[tuple[str, str]]) -> list[Path]:
    files = []
    for index, (_name, text) in enumerate(texts, start=1):
        path = folder / f"text-{index:04d}.txt"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def _command(job: FinetuneJob, files: list[Path]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "engine",
        "finetune",
        "--parent",
        job.parent,
        "--base",
        job.base,
        "--out",
        job.out,
        "--text",
        *map(str, files),
        "--time-budget",
        str(job.time_budget),
        "--threads",
        str(job.threads),
        "--min-gain-bits",
        str(job.min_gain_bits),
        "--max-forget-bits",
        str(job.max_forget_bits),
        "--json",
        "--progress",
        "jsonl",
    ]


def _why(code: int, tail: list[str]) -> str:
    """A failed trainer's reason, for people: its own error line (the engine's words), or how
    it ended in a sentence of the catalogue (the details go to the log)."""
    said = next(
        (line[len("error: ") :] for line in reversed(tail) if line.startswith("error:")), ""
    )
    if said:
        return refused(said)
    log.warning("the trainer ended with code %s; its last lines: %s", code, tail[-3:])
    return KILLED if code < 0 else CRASHED


def _figures(out: bytes, job: FinetuneJob) -> VersionFigures:
    """The trainer's one JSON object on stdout."""
    text = out.decode("utf-8", "replace").strip()
    return figures(json_line(text.splitlines()[-1]) if text else None, job)
