"""The writer fleet (engine/fleet.py) on the session's local Ray cluster: the worker's generation
contract over HTTP, a chat's writer routed to the replica that has it, failures confined to
their own requests, a replica killed mid-request, and the two ways to deploy it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import torch

from bot.core.ports import WriterRequest, WriterUnavailable
from bot.fleet_client import FleetClient
from engine.errors import EngineError
from engine.service import FIELDS, Worker, answer_batch
from tests.engine.test_service import request as worker_request
from tests.ray_cluster import RAY_MISSING, Fleet

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the session's fleet takes seconds to start, once


def request(writer: str = "", **changes: Any) -> dict[str, Any]:
    """A complete generate request, as the bot sends it (the worker tests' own, over HTTP)."""
    fields = worker_request(0, writer, **changes)
    return {k: v for k, v in fields.items() if k not in ("id", "op")}


async def post(
    fleet: Fleet, op: str, body: Any, model: str | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST to the fleet as the bot does (the writer's model id in Serve's header) ->
    (status, the replica and load headers, the JSON reply)."""
    from engine.fleet import LOAD_HEADER, REPLICA_HEADER, model_id

    writer = body.get("writer", "") if isinstance(body, dict) else ""
    headers = {"serve_multiplexed_model_id": model if model is not None else model_id(writer)}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fleet.url}/{op}", data=data, headers=headers) as response,
    ):
        where = {k: response.headers.get(k, "") for k in (REPLICA_HEADER, LOAD_HEADER)}
        return response.status, where, await response.json(content_type=None)


def bot_request(writer: str = "", **changes: Any) -> WriterRequest:
    """The same request as the core hands it to the bot's client."""
    fields = {
        k: v for k, v in request(writer).items() if k not in ("stop_at_sentence_end", "distinct")
    }
    return WriterRequest(**{**fields, "length": 24, **changes})


def version(fleet: Fleet, folder: Path) -> str:
    """A new writer version (a copy of the base in a folder of its own): no replica has it."""
    shutil.copytree(fleet.base, folder)
    return str(folder)


async def test_same_requests_get_the_candidates_of_the_process_worker(
    writer_fleet: Fleet, tmp_path: Path, one_thread: None
) -> None:
    """Requests for the base and a version, in flight together: each reply is what the worker
    of engine/service.py answers for the same fields (same seeds, same candidates)."""
    v1 = version(writer_fleet, tmp_path / "v1")
    asks = [
        request(seed=1),
        request(v1, seed=2, n=3, keyword="그는"),
        request(seed=3, stop_at_sentence_end=True, distinct=True, min_chars=5),
        request(v1, seed=4, temperature=0.0, overgenerate=1),
    ]
    replies = await asyncio.gather(*(post(writer_fleet, "generate", body) for body in asks))
    worker = Worker(str(writer_fleet.base), torch.device("cpu"))
    expected: list[dict[str, Any]] = []
    lines = [json.dumps({"id": i, "op": "generate", **body}) for i, body in enumerate(asks)]
    answer_batch(worker, lines, expected.append)
    expected.sort(key=lambda r: r["id"])
    for (status, _, reply), wanted in zip(replies, expected, strict=True):
        assert status == 200 and reply["ok"], reply
        got, want = reply["candidates"], wanted["candidates"]
        assert [(c["text"], c["seed"]) for c in got] == [(c["text"], c["seed"]) for c in want]
        for a, b in zip(got, want, strict=True):
            assert a["mean_logprob"] == pytest.approx(b["mean_logprob"], abs=1e-5)


async def test_a_missing_mistyped_or_unknown_field_is_refused_naming_it(
    writer_fleet: Fleet,
) -> None:
    """Every field is required and typed, as in the worker: a bad request answers 400 naming
    the field; the good request sent with them is answered."""
    broken: list[tuple[dict[str, Any], str]] = []
    for field in FIELDS:
        missing = request()
        del missing[field]
        broken.append((missing, repr(field)))
    broken += [
        (request(n="3"), "'n' must be an integer"),
        (request(distinct=1), "'distinct' must be true or false"),
        (request(length=150), "unknown field 'length'"),
        (request(top_p=0.0), "top_p"),
    ]
    replies = await asyncio.gather(
        post(writer_fleet, "generate", request()),
        *(post(writer_fleet, "generate", body) for body, _ in broken),
    )
    assert replies[0][0] == 200 and replies[0][2]["candidates"]
    for (status, _, reply), (_, named) in zip(replies[1:], broken, strict=True):
        assert status == 400 and reply["ok"] is False and named in reply["error"], reply
    status, _, reply = await post(writer_fleet, "generate", b"{not json")
    assert status == 400 and "not a JSON object" in reply["error"]
    status, _, reply = await post(writer_fleet, "train", {})
    assert status == 404 and "no such operation" in reply["error"]
    status, _, reply = await post(writer_fleet, "generate", request(), model="writer:/elsewhere")
    assert status == 400 and "serve_multiplexed_model_id" in reply["error"]


async def test_a_writer_that_cannot_be_loaded_fails_only_its_own_requests(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """A missing and a corrupt version answer 422 naming them; the base and a good version,
    asked at the same moment, are answered."""
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json", encoding="utf-8")
    good = version(writer_fleet, tmp_path / "good")
    asks = [request(str(tmp_path / "missing")), request(good), request(str(corrupt)), request()]
    replies = await asyncio.gather(*(post(writer_fleet, "generate", body) for body in asks))
    statuses = [status for status, _, _ in replies]
    assert statuses == [422, 200, 422, 200], replies
    assert "could not be loaded" in replies[0][2]["error"] and "missing" in replies[0][2]["error"]
    assert "config.json" in replies[2][2]["error"]
    status, _, info = await post(writer_fleet, "info", {"writer": good})
    assert status == 200 and info["info"]["model"] == "good" and info["info"]["parameters"] > 0
    status, _, info = await post(writer_fleet, "info", {})
    assert status == 200 and info["info"]["model"] == writer_fleet.base.name


async def test_a_chats_writer_is_served_where_it_is_loaded(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """Two new versions over two replicas: each is loaded once (one miss), and once warm
    every request for it goes to the replica that has it."""
    from engine.fleet import LOAD_HEADER, REPLICA_HEADER

    for name in ("routed-1", "routed-2"):
        writer = version(writer_fleet, tmp_path / name)
        first = await post(writer_fleet, "generate", request(writer))
        assert first[1][LOAD_HEADER] == "miss"
        await asyncio.sleep(0.5)  # the replica tells Serve's routers what it holds (0.1 s)
        served = [await post(writer_fleet, "generate", request(writer, seed=s)) for s in range(8)]
        assert {where[REPLICA_HEADER] for _, where, _ in served} == {first[1][REPLICA_HEADER]}
        assert {where[LOAD_HEADER] for _, where, _ in served} == {"hit"}


async def test_requests_at_once_for_a_writer_no_replica_has_go_to_one_replica(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """Eight requests at once for a new version: Serve's own router spread them over the
    replicas, each loading the writer; the fleet's keeps them on one (engine/fleet_router.py)."""
    from engine.fleet import REPLICA_HEADER

    writer = version(writer_fleet, tmp_path / "burst")
    replies = await asyncio.gather(
        *(post(writer_fleet, "generate", request(writer, seed=s)) for s in range(8))
    )
    assert [status for status, _, _ in replies] == [200] * 8
    assert len({where[REPLICA_HEADER] for _, where, _ in replies}) == 1


async def test_a_replica_killed_mid_request_fails_that_request_and_the_next_is_served(
    writer_fleet: Fleet, tmp_path: Path
) -> None:
    """The replica generating a long request is killed: the bot's client gets
    WriterUnavailable (the chat is asked to try again), the next request is answered, and
    Serve puts a new replica in the dead one's place."""
    from engine.fleet import REPLICA_HEADER

    writer = version(writer_fleet, tmp_path / "doomed")
    _, where, _ = await post(writer_fleet, "generate", request(writer))
    assert where[REPLICA_HEADER] in writer_fleet.replicas()
    await asyncio.sleep(0.5)  # routed to that replica from now on
    client = FleetClient(writer_fleet.url, timeout=60.0)
    await client.start()
    try:
        endless = bot_request(writer, n=9, overgenerate=4, max_chars=8000, min_chars=8000)
        doomed = asyncio.create_task(client.generate(endless))
        await asyncio.sleep(1.0)
        assert not doomed.done()
        writer_fleet.kill(where[REPLICA_HEADER])
        with pytest.raises(WriterUnavailable):
            await doomed
        assert await client.generate(bot_request(writer))
    finally:
        await client.close()
    await asyncio.to_thread(writer_fleet.wait_replaced, where[REPLICA_HEADER])


def test_fleet_deploy_prints_the_urls_it_serves(writer_fleet: Fleet) -> None:
    """`python -m engine fleet deploy --trainer` onto the running cluster (other applications
    beside the session's) prints the writer's URL, whose /info answers, and the trainer's,
    which reads a job (a bad one is refused before any task)."""
    from ray import serve

    done = subprocess.run(
        [sys.executable, "-m", "engine", "fleet", "deploy", "--address", writer_fleet.address,
         "--name", "deployed", "--model", str(writer_fleet.base), "--cpus-per-replica", "0.5",
         "--trainer", "--trainer-name", "deployed-trainer"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        url, trainer = done.stdout.split()
        served = writer_fleet.url.rsplit("/", 1)[0]
        assert (url, trainer) == (f"{served}/deployed", f"{served}/deployed-trainer")
        deployed = Fleet(url, writer_fleet.base, writer_fleet.address)
        status, _, reply = asyncio.run(post(deployed, "info", {}))
        assert status == 200 and reply["info"]["model"] == writer_fleet.base.name
        status, _, reply = asyncio.run(post(Fleet(trainer, writer_fleet.base, ""), "finetune", {}))
        assert status == 400 and "field" in reply["error"]
    finally:
        serve.delete("deployed")
        serve.delete("deployed-trainer")


def test_the_serve_config_builds_the_fleet() -> None:
    """engine/fleet.yaml is a valid Serve config whose args are the fleet's options; an
    unknown option, or a base that is not a checkpoint, is refused naming it."""
    pytest.importorskip("ray.serve", reason=RAY_MISSING)
    import yaml
    from ray.serve.schema import ServeDeploySchema

    from engine.fleet import FleetOptions, build

    config = yaml.safe_load((ROOT / "engine" / "fleet.yaml").read_text(encoding="utf-8"))
    apps = ServeDeploySchema.model_validate(config).applications
    (app,) = [a for a in apps if a.name == "writer"]  # beside it: the trainer (fleet_training)
    assert app.import_path == "engine.fleet:build"
    assert FleetOptions(**app.args) == FleetOptions()
    with pytest.raises(EngineError, match="replica"):
        build({"replica": 2})
    with pytest.raises(EngineError, match="not a checkpoint folder"):
        build({"model": "weights/nothing-here"})
