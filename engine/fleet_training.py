"""Fine-tunes on the fleet: `python -m engine finetune` as a Ray task, behind Serve's HTTP ingress.

A bot process (bot/fleet_trainer.py) posts a claimed run's job and reads the run as it goes:

    POST {url}/finetune   body: {"run_id", "parent", "base", "out", "texts": [[name, text], ...],
                                 "time_budget", "threads", "min_gain_bits", "max_forget_bits",
                                 "gpus" (optional, 0)}
         -> 200, JSON lines (application/x-ndjson), one event a line:
            {"event": "progress", "phase", "fraction", "loss", "seconds"}   every heartbeat;
                 the task's first also says where it runs: "pid" and "node";
                 while the task waits for room on the cluster: "phase": "queued"
            and last, either the summary `engine finetune --json` prints ("promoted", ...),
            or {"event": "error", "kind": "refused" | "crashed" | "killed", "reason": ...}
    a bad job -> 400 {"ok": false, "error": "..."}

The task takes `threads` CPUs and `gpus` GPUs of the cluster (Ray places it where they are free),
writes the job's texts to a scratch folder of its own, parses the very arguments the process
trainer passes (engine/cli.py) and runs engine/finetune.py's `finetune_command` on them, so the
recipe, the gate and the publishing to the artifact store (a folder every machine mounts at the
same path, or s3://) are the command's. Its heartbeats come from the task's own loop while the
fine-tune runs on a thread, as the command's come from a thread of their own, so a frozen task
falls silent and the bot stops it. A task whose worker dies (killed, out of memory, its node
lost) is never retried: the stream ends with a "killed" error and the run fails. A bot that
hangs up (it found the run silent) has the task cancelled, again until it has ended; a task
cancelled or abandoned mid-run ends its worker process, so its fine-tune never trains on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from engine._heartbeat import Heartbeat
from engine.cli import build_parser
from engine.errors import EngineError

__all__ = ["APP_NAME", "FineTunes", "Job", "TrainerOptions", "application", "build", "parse_job"]

log = logging.getLogger(__name__)

APP_NAME = "trainer"  # the Serve application, served at /trainer
REPLICA_HEADER = "X-Relaytale-Replica"
# Heartbeats in a row that Ray did not ask a running task for: it was abandoned (`_watch`).
ABANDONED_BEATS = 20


@dataclass(frozen=True)
class TrainerOptions:
    """How the trainer is deployed: `build`'s args (engine/fleet.yaml) and the CLI's options."""

    heartbeat_seconds: float = 1.0  # how often a running fine-tune reports its progress
    # How long a run may wait for room on the cluster (its CPUs, its GPU) before it is refused.
    queue_seconds: float = 600.0
    max_runs: int = 64  # fine-tunes one ingress replica relays at once (each a stream)

    def __post_init__(self) -> None:
        if self.heartbeat_seconds <= 0 or self.queue_seconds <= 0 or self.max_runs < 1:
            raise EngineError("heartbeat_seconds and queue_seconds must be > 0, max_runs >= 1")


@dataclass(frozen=True)
class Job:
    """One fine-tune, as the bot's FinetuneJob sends it (bot/trainer_wire.py `job_fields`)."""

    run_id: int
    parent: str
    base: str
    out: str
    texts: list[tuple[str, str]]
    time_budget: float
    threads: int
    min_gain_bits: float
    max_forget_bits: float
    gpus: float = 0.0


def parse_job(body: dict[str, Any]) -> Job:
    """A posted job, every field checked; EngineError names the first bad one."""
    unknown = set(body) - set(Job.__dataclass_fields__)
    if unknown:
        raise EngineError(f"finetune: unknown field(s) {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {}
    for name in ("parent", "base", "out"):
        fields[name] = _field(body, name, str)
        if not fields[name]:
            raise EngineError(f"finetune: field {name!r} must not be empty")
    texts = _field(body, "texts", list)
    if not texts or not all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(s, str) for s in t) for t in texts
    ):
        raise EngineError("finetune: field 'texts' must be a non-empty list of [name, text]")
    fields["texts"] = [(name, text) for name, text in texts]
    fields["run_id"] = _field(body, "run_id", int)
    fields["threads"] = _field(body, "threads", int)
    for name in ("time_budget", "min_gain_bits", "max_forget_bits"):
        fields[name] = float(_field(body, name, (int, float)))
    if "gpus" in body:  # optional: a CPU fine-tune
        fields["gpus"] = float(_field(body, "gpus", (int, float)))
    job = Job(**fields)
    if job.threads < 1 or job.time_budget <= 0 or job.gpus < 0:
        raise EngineError("finetune: threads must be >= 1, time_budget > 0 and gpus >= 0")
    return job


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise EngineError(f"finetune: field {name!r} is missing or of the wrong type")
    return value


def _arguments(job: Job, files: list[Path]) -> list[str]:
    """The command line the process trainer runs (bot/trainer_client.py), for the same parser."""
    return [
        "finetune",
        *("--parent", job.parent, "--base", job.base, "--out", job.out),
        *("--text", *map(str, files)),
        *("--time-budget", str(job.time_budget), "--threads", str(job.threads)),
        *("--min-gain-bits", str(job.min_gain_bits)),
        *("--max-forget-bits", str(job.max_forget_bits)),
        *("--json", "--progress", "jsonl"),
    ]


def _finetune(job: Job, beat: Heartbeat) -> dict[str, Any]:
    """The fine-tune itself, on the task's thread: the texts in a scratch folder, then exactly
    what `python -m engine finetune` does with the arguments. Its summary, or an error event."""
    from engine.finetune import finetune_command  # torch: loaded by the task only

    try:
        with tempfile.TemporaryDirectory(prefix=f"relaytale-run-{job.run_id}-") as scratch:
            files = []
            for index, (_name, text) in enumerate(job.texts, start=1):
                files.append(Path(scratch) / f"text-{index:04d}.txt")
                files[-1].write_text(text, encoding="utf-8")
            args = build_parser().parse_args(_arguments(job, files))
            return finetune_command(args, beat)
    except EngineError as exc:  # bad input or a store's failure: the engine's own words
        return {"event": "error", "kind": "refused", "reason": str(exc)}
    except Exception as exc:  # a bug: told as a crash, as the command's traceback would be
        log.exception("fine-tune run %s crashed", job.run_id)
        return {"event": "error", "kind": "crashed", "reason": f"{type(exc).__name__}: {exc}"}


@ray.remote(num_returns="streaming", max_retries=0)
def finetune_task(job: Job, heartbeat_seconds: float) -> Iterator[dict[str, Any]]:
    """The run as a Ray task: heartbeats while the fine-tune runs on a thread, then its end.
    Never retried: a second attempt would train again what the bot has already given up on.
    The fine-tune never outlives the task: a task cancelled or abandoned mid-run (see
    `_watch`) ends its worker process, the one way to stop a thread."""
    beat = Heartbeat(enabled=False)  # only its state: this loop sends the lines
    outcome: dict[str, Any] = {}
    # Set when the fine-tune has ended. Not Thread.is_alive: a join that a cancel interrupts
    # can leave it saying False while the thread runs on (CPython gh-90882).
    finished = threading.Event()
    turns = [0]  # how often Ray has asked this generator for its next line

    def work() -> None:
        try:
            outcome["end"] = _finetune(job, beat)
        finally:
            finished.set()

    threading.Thread(target=work, name="finetune", daemon=True).start()
    watch = (finished, turns, heartbeat_seconds, job.run_id)
    threading.Thread(target=_watch, args=watch, name="finetune-watch", daemon=True).start()
    try:
        yield {**beat.line(), "pid": os.getpid(), "node": ray.util.get_node_ip_address()}
        while not finished.wait(heartbeat_seconds):
            turns[0] += 1
            yield beat.line()
    finally:
        if not finished.is_set():  # cancelled mid-run: the fine-tune must not go on without it
            log.warning("fine-tune run %s: cancelled; its worker exits", job.run_id)
            os._exit(1)  # a thread cannot be stopped; the worker can (Ray starts another)
    yield outcome["end"]


def _watch(finished: threading.Event, turns: list[int], every: float, run_id: int) -> None:
    """End the worker process when Ray stops asking the task for lines while its fine-tune
    runs: a cancel can interrupt Ray's own loop between two lines (Serve cancels a request's
    tasks when its caller hangs up), ending the task without ever closing the generator.
    Counted in this thread's own wake-ups, so a worker that was frozen (SIGSTOP, swapping)
    is not taken for abandoned the moment it runs again."""
    seen, idle = turns[0], 0
    while not finished.wait(every):
        idle = idle + 1 if turns[0] == seen else 0
        seen = turns[0]
        if idle >= ABANDONED_BEATS:
            log.warning("fine-tune run %s: abandoned by its task; its worker exits", run_id)
            os._exit(1)


class FineTunes:
    """The ingress: one stream per posted run, relaying its task's lines."""

    def __init__(self, options: TrainerOptions) -> None:
        self.options = options
        self.replica = serve.get_replica_context().replica_id.unique_id
        self._stopping: set[asyncio.Future[None]] = set()  # tasks being cancelled

    async def __call__(self, request: Request) -> Response:
        """POST .../finetune: the run's lines as they come."""
        op = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method != "POST" or op != "finetune":
            return self._refuse(404, f"no such operation: {request.method} /{op}")
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return self._refuse(400, "the request is not a JSON object")
        try:
            job = parse_job(body)
        except EngineError as exc:
            return self._refuse(400, str(exc))
        lines = (json.dumps(event, ensure_ascii=False) + "\n" async for event in self.run(job))
        return StreamingResponse(
            lines, media_type="application/x-ndjson", headers={REPLICA_HEADER: self.replica}
        )

    def _refuse(self, status: int, error: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": error}, status, {REPLICA_HEADER: self.replica})

    async def run(self, job: Job) -> AsyncIterator[dict[str, Any]]:
        """Start the run's task and pass its events on, the last one its end; cancel the task
        when the caller goes away before that."""
        task = finetune_task.options(
            num_cpus=job.threads, num_gpus=job.gpus, name=f"finetune-run-{job.run_id}"
        ).remote(job, self.options.heartbeat_seconds)
        ended = False
        try:
            async for event in self._events(task, job):
                ended = "event" not in event or event["event"] == "error"
                yield event
        finally:
            if not ended:  # the bot hung up (a silent run), or this replica is stopping
                log.warning("fine-tune run %s: the caller left; cancelling its task", job.run_id)
                stopping = asyncio.ensure_future(_stop(task, job))
                self._stopping.add(stopping)  # held until done (the loop keeps weak refs)
                stopping.add_done_callback(self._stopping.discard)

    async def _events(self, task: Any, job: Job) -> AsyncIterator[dict[str, Any]]:
        """The task's events; "queued" heartbeats while it waits for room on the cluster."""
        waited, started, every = 0.0, False, self.options.heartbeat_seconds
        events = aiter(task)
        while True:
            following = asyncio.ensure_future(_next_event(events))
            try:
                while not started:  # a task not yet placed says nothing: speak for it
                    done, _ = await asyncio.wait({following}, timeout=every)
                    if done:
                        break
                    waited += every
                    if waited >= self.options.queue_seconds:
                        ray.cancel(task, force=True)  # it must not start after all
                        yield _no_room(job, waited)
                        return
                    yield {"event": "progress", "phase": "queued", "fraction": 0.0}
                event = await following
            finally:
                following.cancel()
            if event is None:
                return
            started = True
            yield event
            if "event" not in event or event["event"] == "error":
                return


async def _next_event(events: Any) -> dict[str, Any] | None:
    """The task's next event; None when it has ended; its death as a "killed" error."""
    try:
        ref = await anext(events)
        event: dict[str, Any] = await ref
    except StopAsyncIteration:
        return None
    except ray.exceptions.RayTaskError as exc:  # raised inside the task: a bug of ours
        return {"event": "error", "kind": "crashed", "reason": str(exc).splitlines()[0]}
    except ray.exceptions.RayError as exc:  # its worker died, its node was lost, it was cancelled
        log.warning("a fine-tune task died: %s", exc)
        return {"event": "error", "kind": "killed", "reason": type(exc).__name__}
    return event


async def _stop(task: Any, job: Job, every: float = 3.0) -> None:
    """Cancel a task until it has ended. A cancel can be lost while the task's worker does not
    answer (frozen, swapping: why the bot hung up), so it is sent again every few seconds, for
    as long as the run could have taken."""
    ended = asyncio.wrap_future(task.completed().future())
    for _ in range(int((job.time_budget * 2 + 600) / every)):
        ray.cancel(task, force=True)
        try:
            await asyncio.wait_for(asyncio.shield(ended), every)
        except TimeoutError:
            continue
        except ray.exceptions.RayError:  # it ended cancelled, or its worker was killed
            pass
        return
    log.error("fine-tune run %s: its task does not stop", job.run_id)


def _no_room(job: Job, waited: float) -> dict[str, Any]:
    need = f"{job.threads} CPU" + (f" and {job.gpus:g} GPU" if job.gpus else "")
    return {
        "event": "error",
        "kind": "refused",
        "reason": f"no machine of the fleet had room for it ({need}) for {waited:.0f} s",
    }


def build(args: dict[str, Any]) -> Application:
    """The application `serve deploy engine/fleet.yaml` builds from its args (TrainerOptions)."""
    try:
        options = TrainerOptions(**args)
    except TypeError as exc:  # an unknown option
        raise EngineError(f"trainer: {exc}") from exc
    return application(options)


def application(options: TrainerOptions) -> Application:
    """The trainer's one ingress deployment. It only relays (the fine-tunes are tasks with
    resources of their own), so it takes no CPU of the cluster."""
    return (
        serve.deployment(name="FineTunes")(FineTunes)
        .options(
            num_replicas=1,
            ray_actor_options={"num_cpus": 0},
            max_ongoing_requests=options.max_runs,
        )
        .bind(options)
    )
