"""The writer as a fleet on Ray Serve against the process worker, on this machine.

/continue-sized requests (3 candidates, over-generated 2x, about --length characters) from
--chats chats over --writers distinct writer versions (copies of the base in a scratch folder:
as big to load as real versions), all at once, through the bot's own clients' wire
(bot/writer_wire.py): the process worker (bot/engine_client.py), then the fleet with 1 and 2
replicas of one CPU and one torch thread each on a local Ray of --cpus CPUs. Reported per stage:
chars/s, p50/p99 of a request, and how many requests the fleet served after loading their
writer (its replies' X-Relaytale-Load: the requests of one writer generated together share
one load). Then the fleet's added latency at low load (one request at a time, the base
writer: p50 fleet - p50 worker), and routing: --routing-writers writers over 2 replicas with
max_loaded 8 each (room for all), warmed once, then requests in a random order: the share
served by a replica that had the writer loaded. Prints one JSON object:

    .venv/bin/python bench/fleet.py --chats 200 --writers 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.ports import WriterRequest  # noqa: E402
from bot.engine_client import EngineClient  # noqa: E402
from bot.fleet_client import MODEL_HEADER, model_id  # noqa: E402
from bot.writer_wire import generate_fields  # noqa: E402

CONTEXT = "The harbour was quiet that night. Mira walked along the pier, counting the boats. "


def request(writer: str, seed: int, length: int) -> WriterRequest:
    """A /continue as the core builds it with config.toml's defaults."""
    return WriterRequest(
        context=CONTEXT,
        keyword="",
        n=3,
        length=length,
        temperature=0.8,
        seed=seed,
        max_chars=int(length * 1.5),
        min_chars=int(length * 0.6),
        top_k=0,
        top_p=0.95,
        repetition_penalty=1.1,
        overgenerate=2,
        writer=writer,
    )


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1)}


class Stage:
    """Requests timed one by one; the characters they brought; the fleet's misses."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.chars = 0
        self.misses = 0
        self.hits = 0
        self.replicas_of: dict[str, set[str]] = {}  # writer -> the replicas that served it

    def figures(self, seconds: float) -> dict[str, Any]:
        return {
            "requests": len(self.ms),
            "chars_per_s": round(self.chars / seconds, 1),
            "ms": percentiles(self.ms),
            "served_after_a_load": self.misses,  # requests whose writer had to be loaded
            # Writers whose requests were split over replicas: each replica loaded it and
            # generated for fewer of its requests at once.
            "writers_on_several_replicas": sum(len(r) > 1 for r in self.replicas_of.values()),
        }


async def on_worker(
    client: EngineClient, stage: Stage, writer: str, seed: int, length: int
) -> None:
    started = time.monotonic()
    candidates = await client.generate(request(writer, seed, length))
    stage.ms.append((time.monotonic() - started) * 1000)
    stage.chars += sum(len(c.text) for c in candidates)


async def on_fleet(
    session: aiohttp.ClientSession, url: str, stage: Stage, writer: str, seed: int, length: int
) -> str:
    """One generate over HTTP as bot/fleet_client.py sends it; the replica that served it."""
    body = generate_fields(request(writer, seed, length))
    started = time.monotonic()
    async with session.post(
        f"{url}/generate", json=body, headers={MODEL_HEADER: model_id(writer)}
    ) as reply:
        answer = await reply.json()
        load, replica = reply.headers.get("X-Relaytale-Load"), reply.headers["X-Relaytale-Replica"]
    stage.ms.append((time.monotonic() - started) * 1000)
    if not answer.get("ok"):
        raise RuntimeError(answer)
    stage.chars += sum(len(c["text"]) for c in answer["candidates"])
    stage.misses += load == "miss"
    stage.hits += load == "hit"
    stage.replicas_of.setdefault(writer, set()).add(str(replica))
    return str(replica)


def chat_writers(writers: list[str], chats: int) -> list[tuple[str, int]]:
    return [(writers[i % len(writers)], 1000 + i * 10) for i in range(chats)]


def load_ms(writers: list[str]) -> dict[str, float]:
    """What one cache miss costs: reading a writer version from local disk into a model, on one
    torch thread as a replica does (a version downloaded from S3 is cached on disk first)."""
    import torch

    from engine import checkpoint

    torch.set_num_threads(1)
    times = []
    for folder in writers:
        started = time.monotonic()
        checkpoint.load(folder, "cpu")
        times.append((time.monotonic() - started) * 1000)
    return percentiles(times)


async def worker_stages(model: str, writers: list[str], args: argparse.Namespace) -> JSONs:
    client = EngineClient(model, device="cpu", timeout=600, max_loaded=args.max_loaded)
    await client.start()
    try:
        await on_worker(client, Stage(), "", 1, args.length)  # warm
        stage, started = Stage(), time.monotonic()
        await asyncio.gather(
            *(
                on_worker(client, stage, w, s, args.length)
                for w, s in chat_writers(writers, args.chats)
            )
        )
        burst = stage.figures(time.monotonic() - started)
        burst["served_after_a_load"] = None  # the worker does not say
        burst["writers_on_several_replicas"] = None
        quiet = Stage()
        for seed in range(args.quiet):
            await on_worker(client, quiet, "", seed, args.length)
    finally:
        await client.close()
    return {"burst": burst, "quiet_ms": percentiles(quiet.ms)}


async def fleet_stage(
    url: str, writers: list[str], args: argparse.Namespace, quiet: bool
) -> JSONs:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        await on_fleet(session, url, Stage(), "", 1, args.length)  # warm
        stage, started = Stage(), time.monotonic()
        await asyncio.gather(
            *(
                on_fleet(session, url, stage, w, s, args.length)
                for w, s in chat_writers(writers, args.chats)
            )
        )
        figures: JSONs = {"burst": stage.figures(time.monotonic() - started)}
        if quiet:
            calm = Stage()
            for seed in range(args.quiet):
                await on_fleet(session, url, calm, "", seed, args.length)
            figures["quiet_ms"] = percentiles(calm.ms)
            figures["info_ms"] = await info_ms(session, url, args.quiet)
    return figures


async def info_ms(session: aiohttp.ClientSession, url: str, times: int) -> dict[str, float]:
    """An info request one at a time: what the fleet's path costs with no generation in it
    (the bot's HTTP, Serve's proxy and router, the replica's handler)."""
    spent = []
    for _ in range(times):
        started = time.monotonic()
        async with session.post(f"{url}/info", json={"writer": ""}) as reply:
            await reply.json()
        spent.append((time.monotonic() - started) * 1000)
    return percentiles(spent)


async def routing(url: str, writers: list[str], args: argparse.Namespace) -> JSONs:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        warm = Stage()
        for writer in writers:
            await on_fleet(session, url, warm, writer, 1, args.short)
        order = [w for w in writers for _ in range(args.routing_rounds)]
        random.Random(7).shuffle(order)
        stage, room = Stage(), asyncio.Semaphore(4)

        async def one(writer: str, seed: int) -> str:
            async with room:
                return await on_fleet(session, url, stage, writer, seed, args.short)

        replicas = await asyncio.gather(*(one(w, i) for i, w in enumerate(order)))
    return {
        "writers": len(writers),
        "requests": len(order),
        "served_where_loaded": round(stage.hits / len(order), 3),
        "loads_after_warming": stage.misses,
        "replicas_used": len(set(replicas)),
    }


JSONs = dict[str, Any]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="weights/default")
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--length", type=int, default=150, help="a candidate's aim in chars")
    parser.add_argument("--short", type=int, default=40, help="the routing requests' length")
    parser.add_argument("--quiet", type=int, default=20, help="requests one at a time")
    parser.add_argument("--routing-writers", type=int, default=16)
    parser.add_argument("--routing-rounds", type=int, default=5)
    parser.add_argument("--cpus", type=int, default=2, help="the local Ray's CPUs")
    parser.add_argument(
        "--max-loaded", type=int, default=8, help="writers a replica (and the worker) keeps loaded"
    )
    parser.add_argument("--max-batch", type=int, default=64, help="requests in a replica's batch")
    args = parser.parse_args()
    import ray
    from ray import serve

    from engine.fleet import APP_NAME, FleetOptions, application

    model = str((ROOT / args.model).resolve())
    result: JSONs = {"load": vars(args)}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        names = [f"w{i:03d}" for i in range(max(args.writers, args.routing_writers))]
        for name in names:  # distinct versions, each as costly to load as a real one
            shutil.copytree(model, Path(tmp) / name)
        writers = [str(Path(tmp) / n) for n in names]
        result["writer_load_ms"] = load_ms(writers[:10])
        result["process_worker"] = await worker_stages(model, writers[: args.writers], args)
        ray.init(
            num_cpus=args.cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        url = f"http://127.0.0.1:{port}/{APP_NAME}"
        try:
            for replicas in (1, 2):
                options = FleetOptions(
                    model=model,
                    replicas=replicas,
                    cpus_per_replica=1.0,
                    max_loaded=args.max_loaded,
                )
                serve.run(application(options), name=APP_NAME, route_prefix=f"/{APP_NAME}")
                stage = await fleet_stage(url, writers[: args.writers], args, replicas == 1)
                result[f"fleet_{replicas}_replicas"] = stage
                serve.delete(APP_NAME)
            options = FleetOptions(model=model, replicas=2, cpus_per_replica=1.0, max_loaded=8)
            serve.run(application(options), name=APP_NAME, route_prefix=f"/{APP_NAME}")
            result["routing"] = await routing(url, writers[: args.routing_writers], args)
        finally:
            serve.shutdown()
            ray.shutdown()
    one = result["fleet_1_replicas"]["burst"]["chars_per_s"]
    two = result["fleet_2_replicas"]["burst"]["chars_per_s"]
    worker_quiet = result["process_worker"]["quiet_ms"]["p50"]
    result["summary"] = {
        "fleet_added_ms_at_low_load_p50": round(
            result["fleet_1_replicas"]["quiet_ms"]["p50"] - worker_quiet, 1
        ),
        "throughput_2_vs_1_replicas": round(two / one, 2),
        "routing_served_where_loaded": result["routing"]["served_where_loaded"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
