"""The `generate` and `next` commands: one JSON object each, the probabilities of next_probs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.checkpoint import Checkpoint, load, save
from engine.generate import next_probs
from engine.vocab import Vocab
from tests.engine.conftest import run_engine as run_cli
from tests.engine.test_generate import SCRIPTS, STORY, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_generate's random model, saved."""
    vocab = Vocab.build([STORY, SCRIPTS])
    return save(Checkpoint(tiny_model(vocab), vocab), tmp_path_factory.mktemp("ckpt") / "model")


def test_cli_generate_json_prints_one_object(model_dir: Path) -> None:
    """`generate --json` prints {"candidates": [...]} with n texts that exclude the prefix."""
    done = run_cli(
        "generate",
        "--model",
        str(model_dir),
        "--prefix",
        "The cat",
        "-n",
        "3",
        "--max-chars",
        "50",
        "--temperature",
        "0.8",
        "--seed",
        "1",
        "--json",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["candidates"]) == 3
    for cand in data["candidates"]:
        assert len(cand["text"]) <= 50
        assert isinstance(cand["mean_logprob"], float)


def test_cli_next_json_and_interactive(model_dir: Path) -> None:
    """`next --json` lists the top characters by probability; --interactive follows the picks."""
    done = run_cli(
        "next",
        "--model",
        str(model_dir),
        "--prefix",
        "The c",
        "--top",
        "4",
        "--mode",
        "stream",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["next"]
    model, vocab = load(model_dir).model, load(model_dir).vocab
    probs = next_probs(model, vocab, "The c", "stream")
    assert [r["p"] for r in rows] == pytest.approx(probs.topk(4).values.tolist(), abs=1e-6)
    assert [r["char"] for r in rows] == [vocab.tokens[i] for i in probs.topk(4).indices]
    picked = run_cli(
        "next",
        "--model",
        str(model_dir),
        "--prefix",
        "The c",
        "--top",
        "3",
        "--interactive",
        "--json",
        stdin="2\n1\nq\n",
    )
    assert picked.returncode == 0, picked.stderr
    expected = "The c"
    for choice in (2, 1):
        probs = next_probs(model, vocab, expected, "window")
        order = [
            i for i in probs.argsort(descending=True).tolist() if i not in vocab.special_indices()
        ]
        expected += vocab.tokens[order[choice - 1]]
    assert json.loads(picked.stdout) == {"text": expected}
