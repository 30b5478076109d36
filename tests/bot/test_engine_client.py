"""The bot's writer client against a real worker process running a tiny model."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import WriterConfig
from bot.core.generation import writer_request
from bot.core.ports import WriterRequest, WriterUnavailable
from bot.engine_client import EngineClient


def request(seed: int, n: int = 3, keyword: str = "") -> WriterRequest:
    """A /continue as the core builds it, with the shipped config's generation policy."""
    return writer_request(
        WriterConfig(),
        writer="",
        context="The dragon slept.\n",
        keyword=keyword,
        n=n,
        length=40,
        temperature=0.8,
        seed=seed,
    )


@pytest.fixture
async def client(random_writer_dir: Path) -> AsyncIterator[EngineClient]:
    writer = EngineClient(str(random_writer_dir), device="cpu", timeout=30.0)
    await writer.start()
    yield writer
    await writer.close()


async def test_generates_candidates(client: EngineClient) -> None:
    """A request returns n candidates with scores, each starting with the keyword."""
    candidates = await client.generate(request(7, keyword="용"))
    assert len(candidates) == 3
    assert all(c.text.startswith("용") and c.mean_logprob < 0 for c in candidates)


async def test_same_seed_same_text(client: EngineClient) -> None:
    """Rounds are reproducible: the same request gives the same candidates."""
    first = await client.generate(request(11))
    second = await client.generate(request(11))
    assert [c.text for c in first] == [c.text for c in second]


async def test_concurrent_requests_from_many_chats(client: EngineClient) -> None:
    """Twenty chats asking at once all get their own answers."""
    results = await asyncio.gather(*(client.generate(request(seed, n=2)) for seed in range(20)))
    assert all(len(r) == 2 for r in results)
    alone = await client.generate(request(5, n=2))
    assert [c.text for c in results[5]] == [c.text for c in alone]


async def test_killed_worker_is_restarted(client: EngineClient) -> None:
    """SIGKILL of the worker: the caller gets WriterUnavailable, then the writer comes back."""
    old_pid = client.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(WriterUnavailable):
        for _ in range(50):  # until the client notices the death
            await client.generate(request(1))
            await asyncio.sleep(0.05)
    for _ in range(200):
        await asyncio.sleep(0.1)
        if client.pid != old_pid and client._alive():
            break
    assert client.pid != old_pid
    assert len(await client.generate(request(2))) == 3


async def test_missing_model_fails_clearly(tmp_path: Path) -> None:
    """A worker that cannot load its checkpoint reports WriterUnavailable, not a hang."""
    writer = EngineClient(str(tmp_path / "nothing"), device="cpu", timeout=5.0)
    with pytest.raises(WriterUnavailable, match="did not start"):
        await writer.start()
    await writer.close()


async def test_requests_across_a_writer_swap_never_fail(
    client: EngineClient, random_writer_dir: Path, tmp_path: Path
) -> None:
    """A chat whose writer is swapped for a new version (a new folder) mid-stream: every
    request before, during and after the swap is answered; the new version is loaded on its
    first request while the old one keeps serving."""
    new_version = tmp_path / "run-1"
    shutil.copytree(random_writer_dir, new_version)

    def for_writer(seed: int, writer: str) -> WriterRequest:
        return dataclasses.replace(request(seed, n=2), writer=writer)

    stream = [
        client.generate(for_writer(seed, "" if seed < 10 else str(new_version)))
        for seed in range(20)
    ]
    results = await asyncio.gather(*stream)
    assert all(len(r) >= 1 for r in results)
    alone = await client.generate(for_writer(15, str(new_version)))
    assert [c.text for c in alone] == [c.text for c in results[15]]
    facts = await client.info(str(new_version))
    assert facts.model == "run-1" and facts.parameters > 0 and facts.held_out_bits == {}


async def test_an_int8_worker_writes_too(random_writer_dir: Path) -> None:
    """writer.quantize = "int8" starts the worker with int8 weights; it answers as usual."""
    writer = EngineClient(str(random_writer_dir), device="cpu", timeout=30.0, quantize="int8")
    await writer.start()
    try:
        candidates = await writer.generate(request(3, keyword="용"))
        assert candidates and all(c.text.startswith("용") for c in candidates)
    finally:
        await writer.close()
