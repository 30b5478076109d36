"""The writer fleet: `python -m engine serve`'s generate and info as a Ray Serve application.

Bot processes share it over HTTP (bot/fleet_client.py) instead of each starting a worker:

    POST {url}/generate   header serve_multiplexed_model_id: <model id of "writer">
         body: the generate request of engine/service.py (every field of FIELDS, as typed there)
         -> 200 {"ok": true, "candidates": [{"text", "mean_logprob", "temperature", "seed"}, ...]}
    POST {url}/info       body: {"writer": ""}  -> 200 {"ok": true, "info": {...}}
    a failure -> 4xx/5xx {"ok": false, "error": "message safe to show"}:
         400 a missing, mistyped or unknown field, or a value out of range;
         422 a writer that cannot be loaded (only its own requests fail); 500 anything else.

The model id is how Serve routes a chat's writer to a replica that has it loaded (its LRU holds
`max_loaded` writers, `@serve.multiplexed`), or, when none has, to the one replica it is assigned
(engine/fleet_router.py): "base" for the base writer (""), else "writer:" and
the writer's location percent-quoted (`model_id`; the bot spells it the same). A header that
names another writer than the body is refused; a request without one is served unrouted. Each
reply says which replica served it (X-Relaytale-Replica) and whether the writer had to be loaded
for it (X-Relaytale-Load: miss or hit).

Generate requests are batched with `@serve.batch` (what arrives within `batch_wait_ms`, at most
`max_batch`), and Serve splits a batch by model id (ray#59334). Serve forms each batch before it
waits for its turn, so with one batch at a time a busy replica's queue was cut into batches of
a single request; here Serve hands over batches at once (BATCHES_AT_ONCE; it logs once per
replica that max_batch times that exceeds max_ongoing_requests, which is intended) and the
replica queues their requests by writer: while the torch thread generates for one writer, the
requests for the others gather, and each writer's turn is one `candidates_of` of all its waiting
requests, as the worker groups them. All torch work of a replica runs on one thread of its own
(the event loop keeps answering) with `threads` torch threads; a replica given a GPU generates
on it, replaying CUDA graphs (engine/generate.py `decode`). The CLI (`python -m engine fleet
deploy`, engine/_cli_fleet.py) deploys `application`; engine/fleet.yaml (`serve deploy`) names
`build`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import ray
import torch
from ray import serve
from ray.serve import Application
from ray.serve.config import RequestRouterConfig
from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.checkpoint import Checkpoint
from engine.errors import EngineError
from engine.fleet_router import WriterRouter
from engine.quantize import Quantize
from engine.requests import Prompt
from engine.service import BASE, RequestError, Worker, candidates_of, parse_generate

# Batches Serve may hand a replica at once (why: the module's docstring, on batching).
BATCHES_AT_ONCE = 256

__all__ = [
    "APP_NAME",
    "BASE_ID",
    "FleetOptions",
    "FleetWriter",
    "application",
    "build",
    "model_id",
    "writer_of",
]

APP_NAME = "writer"  # the Serve application, served at /writer
BASE_ID = "base"  # the model id of the base writer (Serve refuses an empty one)
# The reply headers that say where a request was served (tests and bench/ read them).
REPLICA_HEADER = "X-Relaytale-Replica"
LOAD_HEADER = "X-Relaytale-Load"
_WRITER = "writer:"  # the model id of a writer other than the base: this and its location
_ROOT = Path(__file__).resolve().parent.parent  # the checkout: a relative model is read there


def model_id(writer: str) -> str:
    """The multiplexed model id of a writer name (bot/fleet_client.py spells it the same)."""
    return BASE_ID if writer == BASE else _WRITER + quote(writer, safe="/:")


def writer_of(model: str) -> str:
    """The writer name a model id stands for (`model_id` inverted)."""
    return BASE if model == BASE_ID else unquote(model.removeprefix(_WRITER))


@dataclass(frozen=True)
class FleetOptions:
    """How the fleet is deployed: `build`'s args (engine/fleet.yaml) and the CLI's options."""

    model: str = "weights/default"  # the base writer; relative: in the checkout on each node
    replicas: int = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0  # > 0: the replica generates on its GPU
    max_loaded: int = 8  # writers a replica keeps loaded (its LRU; the base counts as one)
    threads: int = 1  # torch threads per replica
    quantize: Quantize = "none"  # "int8" on CPU replicas (engine/quantize.py)
    batch_wait_ms: float = 5.0  # how long a replica waits for more requests to batch together
    max_batch: int = 64  # requests in one batch at most

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.max_loaded < 1 or self.threads < 1 or self.max_batch < 1:
            raise EngineError("replicas, max_loaded, threads and max_batch must be at least 1")
        if self.cpus_per_replica < 0 or self.gpus_per_replica < 0 or self.batch_wait_ms < 0:
            raise EngineError("cpus, gpus per replica and batch_wait_ms must not be negative")
        if self.quantize not in ("none", "int8"):
            raise EngineError(f"quantize must be 'none' or 'int8', not {self.quantize!r}")


@dataclass(frozen=True)
class Served:
    """One generate request's answer, and whether its writer was loaded for it."""

    candidates: list[dict[str, Any]]
    missed: bool


def _unanswered(
    jobs: list[tuple[Prompt, asyncio.Future[Served | EngineError]]],
) -> list[asyncio.Future[Served | EngineError]]:
    """The answers still awaited: a caller that hung up had its answer cancelled."""
    return [answer for _, answer in jobs if not answer.done()]


class FleetWriter:
    """One replica: the base writer pinned, chats' writers in Serve's multiplexed LRU."""

    def __init__(self, options: FleetOptions) -> None:
        # A replica given a GPU sees only its own (Ray sets CUDA_VISIBLE_DEVICES).
        device = torch.device("cuda" if ray.get_gpu_ids() else "cpu")
        quantize = options.quantize if device.type == "cpu" else "none"
        torch.set_num_threads(options.threads)
        # One thread for all torch work: batches of several writers take turns on the
        # replica's CPUs (or GPU) instead of contending, and the event loop stays free.
        self._torch = ThreadPoolExecutor(
            1, "writer", initializer=torch.set_num_threads, initargs=(options.threads,)
        )
        self.worker = Worker(options.model, device, options.max_loaded, quantize)
        self.replica = serve.get_replica_context().replica_id.unique_id
        self.loads = 0  # writers loaded by this replica (cache misses)
        # Requests waiting for the torch thread, by writer (oldest writer first), and the task
        # that generates for them.
        self._waiting: dict[str, list[tuple[Prompt, asyncio.Future[Served | EngineError]]]] = {}
        self._generating: asyncio.Task[None] | None = None
        self._max_batch = options.max_batch
        # Serve gives the batched method these setters (its type hints do not say so).
        self.generate_batch.set_max_batch_size(options.max_batch)  # type: ignore[attr-defined]
        wait = options.batch_wait_ms / 1000
        self.generate_batch.set_batch_wait_timeout_s(wait)  # type: ignore[attr-defined]

        async def load(writer_id: str) -> Checkpoint:
            """Serve's loader: called on a miss, its LRU keeps what it returns."""
            name = writer_of(writer_id)
            if name != BASE:  # the base is always loaded: no miss
                self.loads += 1
            return await self._run(self.worker.load, name)

        # Wired here rather than on the class: `max_num_models_per_replica` is an option.
        self._writer = serve.multiplexed(max_num_models_per_replica=options.max_loaded)(load)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._torch, fn, *args)

    async def writer(self, name: str) -> tuple[Checkpoint, bool]:
        """The loaded writer of a name, and whether it had to be loaded (a miss)."""
        before = self.loads
        loaded = await self._writer(model_id(name))
        return loaded, self.loads != before

    async def __call__(self, request: Request) -> JSONResponse:
        """POST .../generate or .../info: the worker's operations over HTTP."""
        op = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method != "POST" or op not in ("generate", "info"):
            return self._reply(404, error=f"no such operation: {request.method} /{op}")
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return self._reply(400, error="the request is not a JSON object")
        try:
            name, prompt = self._parse(op, body)
        except EngineError as exc:
            return self._reply(400, error=str(exc))
        try:
            if prompt is None:
                loaded, missed = await self.writer(name)
                return self._reply(200, missed, info=self.worker.facts(loaded, name))
            served = await self.generate_batch((name, prompt))
            if isinstance(served, EngineError):
                raise served
        except EngineError as exc:  # this writer cannot be loaded, or a generate failed
            return self._reply(422, error=str(exc))
        except Exception as exc:  # any other failure still answers in the protocol
            return self._reply(500, error=f"the writer failed: {type(exc).__name__}: {exc}")
        return self._reply(200, served.missed, candidates=served.candidates)

    def _parse(self, op: str, body: dict[str, Any]) -> tuple[str, Prompt | None]:
        """(writer, Prompt) of a generate request, (writer, None) of an info request."""
        if op == "generate":
            name, prompt = parse_generate(body)
        else:
            name, prompt = body.get("writer", BASE), None
            if not isinstance(name, str):
                raise RequestError("info: field 'writer' must be a string")
        routed = serve.get_multiplexed_model_id()
        if routed and routed != model_id(name):
            raise RequestError(
                f"the header serve_multiplexed_model_id is {routed!r}, "
                f"but the writer {name!r} has the model id {model_id(name)!r}"
            )
        return name, prompt

    @serve.batch(
        max_batch_size=64, batch_wait_timeout_s=0.005, max_concurrent_batches=BATCHES_AT_ONCE
    )
    async def generate_batch(self, jobs: list[tuple[str, Prompt]]) -> list[Served | EngineError]:
        """A batch Serve formed (split by model id, ray#59334), its requests queued by writer
        for the replica's torch thread; each answer is a Served or the writer's EngineError."""
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[Served | EngineError]] = []
        for name, prompt in jobs:
            answers.append(loop.create_future())
            self._waiting.setdefault(name, []).append((prompt, answers[-1]))
        if self._generating is None or self._generating.done():
            self._generating = asyncio.create_task(self._generate_waiting())
        return list(await asyncio.gather(*answers))

    async def _generate_waiting(self) -> None:
        """Writer after writer, oldest first, all the requests waiting for a writer in one
        batched generate (at most max_batch): those that came while the thread generated for
        another writer join. A writer that cannot be loaded fails only its own requests. A
        request whose caller hung up (Serve cancels its batch, and so its answer) is dropped
        unanswered; the others still get theirs."""
        while self._waiting:
            name = next(iter(self._waiting))
            jobs = [(p, answer) for p, answer in self._waiting.pop(name) if not answer.done()]
            if len(jobs) > self._max_batch:  # the rest wait for the next turn
                self._waiting[name] = jobs[self._max_batch :]
                jobs = jobs[: self._max_batch]
            if not jobs:
                continue
            try:
                loaded, missed = await self.writer(name)
                results = await self._run(candidates_of, loaded, [prompt for prompt, _ in jobs])
            except EngineError as exc:
                for answer in _unanswered(jobs):
                    answer.set_result(exc)
            except Exception as exc:  # never leave a request waiting
                for answer in _unanswered(jobs):
                    answer.set_exception(exc)
            else:
                for (_, answer), candidates in zip(jobs, results, strict=True):
                    if not answer.done():  # its caller hung up while it was generated
                        answer.set_result(Served(candidates, missed))

    def _reply(self, status: int, missed: bool = False, **fields: Any) -> JSONResponse:
        headers = {REPLICA_HEADER: self.replica, LOAD_HEADER: "miss" if missed else "hit"}
        return JSONResponse({"ok": status == 200, **fields}, status, headers)


def build(args: dict[str, Any]) -> Application:
    """The application `serve deploy engine/fleet.yaml` builds from its args (FleetOptions)."""
    try:
        options = FleetOptions(**args)
    except TypeError as exc:  # an unknown option
        raise EngineError(f"fleet: {exc}") from exc
    return application(options)


def application(options: FleetOptions) -> Application:
    """The fleet's one deployment, its replicas as the options say."""
    model = Path(options.model)
    model = model if model.is_absolute() else _ROOT / model
    if not (model / "config.json").is_file():  # refused here, not by every replica in turn
        raise EngineError(f"{model}: not a checkpoint folder (the fleet's base writer)")
    options = dataclasses.replace(options, model=str(model))
    return (
        serve.deployment(name="Writer")(FleetWriter)
        .options(
            num_replicas=options.replicas,
            ray_actor_options={
                "num_cpus": options.cpus_per_replica,
                "num_gpus": options.gpus_per_replica,
            },
            # A batch runs while the next one gathers: room for both on each replica.
            max_ongoing_requests=2 * options.max_batch,
            # Each writer kept on one replica (engine/fleet_router.py). Serve's hint types every
            # keyword of RequestRouterConfig as a dict.
            request_router_config=RequestRouterConfig(
                request_router_class=WriterRouter  # type: ignore[arg-type]
            ),
        )
        .bind(options)
    )
