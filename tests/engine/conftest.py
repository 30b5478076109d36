"""Shared engine fixtures: a tiny model trained in a few seconds, saved once per test session,
and the command line run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.train import TrainOptions, train

# A short bilingual text the tiny model learns almost by heart.
TINY_TEXT = (
    "The cat sat on the mat. The dog sat on the log.\n"
    "고양이가 매트 위에 앉았다. 개가 통나무 위에 앉았다.\n"
) * 6

TINY_MODEL = {"dim_embeddings": 16, "rnn_size": 32, "rnn_layers": 2, "window": 4, "max_length": 16}


def tiny_options(**changes: object) -> TrainOptions:
    """Options for a tiny, quiet, quick run (no samples, no progress bar)."""
    base = TrainOptions(
        epochs=40,
        seed=0,
        val_fraction=0.0,
        batch_size=4,
        seq_len=16,
        lr=1e-2,
        model=dict(TINY_MODEL),
        samples=False,
        progress=False,
        device="cpu",
        threads=1,
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder of a tiny model trained on TINY_TEXT (read it; copy before changing)."""
    folder = tmp_path_factory.mktemp("tiny") / "model"
    train([TINY_TEXT], folder, tiny_options())
    return folder


@pytest.fixture(scope="session")
def tiny_jamo_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model again, reading and writing Hangul as jamo (read it; copy before changing)."""
    folder = tmp_path_factory.mktemp("tiny-jamo") / "model"
    train([TINY_TEXT], folder, tiny_options(hangul="jamo"))
    return folder


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run a test on one CPU thread: tiny models are faster so, and far faster on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_engine(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m engine ARGS` from the project root, in a process of its own, on one thread (tiny
    models are faster so, and the test CPU may be shared)."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
