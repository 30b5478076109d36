"""Fixtures shared by every test package."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import INSTALL_HINT, PostgresServer, server_binaries
from tests.ray_cluster import RAY_MISSING, Fleet
from tests.s3_server import S3Server

WRITER_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,!?'\"\n"
    "용이성에서공주는잠을잤다하고그리고말했다요까"
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the whole session (each test makes its own database
    with tests.postgres_server.new_database); skipped, naming the package, where the machine
    has no server binaries."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(INSTALL_HINT)
    server = PostgresServer(binaries)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-protocol server (moto's) for the whole session."""
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """`s3://<a new bucket>/writers`, with the AWS environment variables pointing at the
    session's server for this test and the processes it starts (whose TMPDIR, where they
    cache versions, is a folder of the test's). Bucket names are never reused, so no cached
    copy of an earlier session's version can stand in for a new one."""
    import boto3

    for variable, value in s3_server.environment().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmpdir")))
    bucket = f"relaytale-test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/writers"


@pytest.fixture(scope="session")
def random_writer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained writer checkpoint: valid, fast, and writes gibberish (bot tests only
    need real candidates, not good ones)."""
    import torch

    from engine import checkpoint
    from engine.model import CharRNN
    from engine.model_config import ModelConfig
    from engine.vocab import Vocab

    torch.manual_seed(0)
    vocab = Vocab.build([WRITER_ALPHABET])
    model = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=16, rnn_size=32))
    folder = tmp_path_factory.mktemp("writer") / "tiny"
    checkpoint.save(checkpoint.Checkpoint(model, vocab, {"note": "untrained test model"}), folder)
    # What every fine-tune of a base reads beside it: its own text to rehearse, and to be
    # measured on (a Korean and an English excerpt, blank-line separated).
    (folder / "replay.txt").write_text(BASE_REPLAY, encoding="utf-8")
    (folder / "eval.txt").write_text(BASE_EVAL, encoding="utf-8")
    return folder


BASE_REPLAY = (
    "The princess said that she had slept. Is it so? It is so, said the knight.\n\n"
    "공주는 잠을 잤다고 말했다요. 그리고 이성에서 잠을 잤다.\n\n"
) * 6
BASE_EVAL = (
    "Then the princess slept again, and the knight said nothing.\n\n"
    "공주는 이성에서 다시 잠을 잤다. 그리고 말했다.\n"
)


@pytest.fixture(scope="session")
def writer_fleet(random_writer_dir: Path, s3_server: S3Server) -> Iterator[Fleet]:
    """The writer fleet (engine/fleet.py) serving the tiny writer from one local Ray cluster
    for the whole session (tests/ray_cluster.py), its machines set up to reach the session's
    S3 server; skipped, naming the package, where Ray Serve is not installed."""
    pytest.importorskip("ray.serve", reason=RAY_MISSING)
    from tests import ray_cluster

    fleet = ray_cluster.start(random_writer_dir, s3_server.environment())
    try:
        yield fleet
    finally:
        ray_cluster.stop()


@pytest.fixture(scope="session")
def fleet_trainer(writer_fleet: Fleet) -> str:
    """The fleet's trainer (engine/fleet_training.py) deployed beside the writer fleet on the
    session's Ray, heartbeats every half second, a run refused after waiting 3 s for room; its
    URL (what a bot's [training] fleet_url names)."""
    from ray import serve

    from engine.fleet_training import APP_NAME, build

    options = {"heartbeat_seconds": 0.5, "queue_seconds": 3.0}
    serve.run(build(options), name=APP_NAME, route_prefix=f"/{APP_NAME}")
    return f"{writer_fleet.url.rsplit('/', 1)[0]}/{APP_NAME}"
