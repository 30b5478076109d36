"""The writer worker: its JSON-lines protocol, many writers in one batch, the LRU, failures."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from engine import checkpoint, service
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.service import FIELDS, RequestError, Worker, answer_batch, serve
from engine.vocab import Vocab
from storage import artifacts

ROOT = Path(__file__).resolve().parents[2]
ALPHABET = "abcdefghijklmnopqrstuvwxyz .,!?\n그는집에갔다"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_writer(folder: Path, letter: str) -> Path:
    """A tiny writer that writes `letter` over and over, whatever it reads."""
    torch.manual_seed(0)
    vocab = Vocab.build([ALPHABET])
    model = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=8, rnn_size=8, window=1))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(-20.0)
        model.output.bias[vocab.encode(letter)[0]] = 5.0
    return checkpoint.save(checkpoint.Checkpoint(model, vocab, {"letter": letter}), folder)


@pytest.fixture(scope="module")
def writers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The base writes 'b'; writers w1..w4 write 'p', 'q', 'r', 's'."""
    root = tmp_path_factory.mktemp("writers")
    found = {"base": make_writer(root / "base", "b")}
    for i, letter in enumerate("pqrs", 1):
        found[f"w{i}"] = make_writer(root / f"w{i}", letter)
    return found


def request(rid: int, writer: str = "", **changes: Any) -> dict[str, Any]:
    """A complete generate request, as the bot sends it."""
    base: dict[str, Any] = {
        "id": rid,
        "op": "generate",
        "writer": writer,
        "context": "그는 집에",
        "keyword": "",
        "n": 2,
        "seed": 100,
        "temperature": 0.8,
        "max_chars": 12,
        "min_chars": 0,
        "top_k": 0,
        "top_p": 0.95,
        "repetition_penalty": 1.0,
        "overgenerate": 2,
        "stop_at_sentence_end": False,
        "distinct": False,
    }
    base.update(changes)
    return base


def ask(worker: Worker, *requests: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """Answer the requests as one batch -> replies by id."""
    replies: list[dict[str, Any]] = []
    answer_batch(worker, [json.dumps(r) for r in requests], replies.append)
    return {r["id"]: r for r in replies}


def test_two_writers_in_one_batch_are_each_answered_by_their_own_model(
    writers: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests for the base and two writers in one batch: each text comes from its own
    writer, and there is one generate call per writer, not per request."""
    calls: list[int] = []
    real = service.generate

    def counting(model: Any, vocab: Any, prompts: Any) -> Any:
        calls.append(len(prompts))
        return real(model, vocab, prompts)

    monkeypatch.setattr(service, "generate", counting)
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    replies = ask(
        worker,
        request(1, str(writers["w1"])),
        request(2, ""),
        request(3, str(writers["w2"])),
        request(4, str(writers["w1"]), seed=7),
    )
    expected = {1: "p", 2: "b", 3: "q", 4: "p"}
    for rid, letter in expected.items():
        assert replies[rid]["ok"], replies[rid]
        for candidate in replies[rid]["candidates"]:
            assert candidate["text"] == letter * 12
    assert sorted(calls) == [1, 1, 2]  # base, w2, and w1 with both of its requests


def test_candidate_seeds_are_the_request_seed_plus_i(writers: dict[str, Path]) -> None:
    """Candidate i of a request is sampled with seed + i, i < n * overgenerate."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    reply = ask(worker, request(1, n=3, overgenerate=2, seed=700))[1]
    seeds = [c["seed"] for c in reply["candidates"]]
    assert len(seeds) == 3 and set(seeds) <= set(range(700, 706))
    assert set(reply["candidates"][0]) == {"text", "mean_logprob", "temperature", "seed"}


def test_loaded_writers_stay_within_max_loaded_and_the_base_stays(
    writers: dict[str, Path],
) -> None:
    """An LRU of at most max_loaded writers, the base included and never evicted."""
    worker = Worker(str(writers["base"]), torch.device("cpu"), max_loaded=3)
    for name in ("w1", "w2", "w1", "w3", "w4"):
        assert ask(worker, request(1, str(writers[name])))[1]["ok"]
        assert len(worker.loaded) + 1 <= 3
    assert list(worker.loaded) == [writers["w3"].resolve(), writers["w4"].resolve()]
    assert ask(worker, request(2, ""))[2]["candidates"][0]["text"].startswith("b")
    only_base = Worker(str(writers["base"]), torch.device("cpu"), max_loaded=1)
    assert ask(only_base, request(3, str(writers["w2"])))[3]["ok"]
    assert not only_base.loaded


def test_a_writer_that_cannot_be_loaded_fails_only_its_requests(
    writers: dict[str, Path], tmp_path: Path
) -> None:
    """A missing folder and a corrupt one fail with a clear message; the rest of the batch is
    answered."""
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json", encoding="utf-8")
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    replies = ask(
        worker,
        request(1, str(tmp_path / "missing")),
        request(2, str(writers["w1"])),
        request(3, str(corrupt)),
        request(4, ""),
    )
    assert not replies[1]["ok"] and "could not be loaded" in replies[1]["error"]
    assert not replies[3]["ok"] and "config.json" in replies[3]["error"]
    assert replies[2]["ok"] and replies[4]["ok"]


def test_an_s3_writer_is_fetched_once_and_a_missing_one_fails_only_its_requests(
    writers: dict[str, Path], s3_url: str, tmp_path: Path
) -> None:
    """A version in an S3 store is downloaded into the cache and writes; a version that is not
    there fails its own request, naming it, and the rest of the batch is answered. Once
    fetched, it loads from the cache (Worker.load, as a fleet replica loads)."""
    here = artifacts.join(s3_url, "chat-1", "run-1")
    missing = artifacts.join(s3_url, "chat-1", "run-2")
    artifacts.publish(writers["w1"], here)
    worker = Worker(str(writers["base"]), torch.device("cpu"), cache_dir=tmp_path / "cache")
    replies = ask(worker, request(1, here), request(2, missing), request(3, ""))
    assert replies[1]["candidates"][0]["text"] == "p" * 12
    assert not replies[2]["ok"] and missing in replies[2]["error"]
    assert replies[3]["ok"]
    assert worker.info(here)["model"] == "run-1"
    artifacts.delete(here)
    assert worker.load(here).metrics["letter"] == "p"
    with pytest.raises(RequestError, match="run-2"):
        worker.load(missing)


def test_distinct_returns_each_text_once(writers: dict[str, Path]) -> None:
    """A writer with one idea gives one candidate when distinct, n when not."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    replies = ask(worker, request(1, n=3, distinct=True), request(2, n=3, distinct=False))
    assert [c["text"] for c in replies[1]["candidates"]] == ["b" * 12]
    assert len(replies[2]["candidates"]) == 3


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_missing_field_fails_the_request_naming_it(writers: dict[str, Path], field: str) -> None:
    """Every field is required: the service applies no defaults of its own."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    broken = request(1)
    del broken[field]
    replies = ask(worker, broken, request(2))
    assert not replies[1]["ok"] and repr(field) in replies[1]["error"]
    assert replies[2]["ok"]


def test_mistyped_unknown_and_out_of_range_fields_are_refused(writers: dict[str, Path]) -> None:
    """A string for a number, a stale field and a bad value each fail with a message."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    replies = ask(
        worker,
        request(1, n="3"),
        request(2, length=150),
        request(3, top_p=0.0),
        request(4, distinct=1),
        {"id": 5, "op": "reload", "model": "x"},
    )
    assert "'n' must be an integer" in replies[1]["error"]
    assert "unknown field 'length'" in replies[2]["error"]
    assert "top_p" in replies[3]["error"]
    assert "'distinct' must be true or false" in replies[4]["error"]
    assert not replies[5]["ok"] and "unknown op" in replies[5]["error"]


def test_info_describes_the_writer_named(writers: dict[str, Path]) -> None:
    """info: the base by default, another writer by its folder."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    replies = ask(
        worker,
        {"id": 1, "op": "info"},
        {"id": 2, "op": "info", "writer": str(writers["w2"])},
        {"id": 3, "op": "ping"},
    )
    assert replies[1]["info"]["model"] == "base"
    assert replies[2]["info"]["model"] == "w2" and replies[2]["info"]["parameters"] > 0
    assert replies[3] == {"id": 3, "ok": True}


def test_serve_reads_json_lines_until_input_ends(writers: dict[str, Path]) -> None:
    """serve(): ready first, then one reply per request, a malformed line included."""
    worker = Worker(str(writers["base"]), torch.device("cpu"))
    lines = [json.dumps(request(1, str(writers["w1"]))), "not json", json.dumps(request(2))]
    out = io.StringIO()
    serve(worker, io.StringIO("\n".join(lines) + "\n"), out, batch_wait=1.0)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[0]["event"] == "ready" and replies[0]["info"]["model"] == "base"
    by_id = {r["id"]: r for r in replies[1:]}
    assert by_id[None] == {"id": None, "ok": False, "error": "malformed request"}
    assert by_id[1]["candidates"][0]["text"] == "p" * 12
    assert by_id[2]["candidates"][0]["text"] == "b" * 12


@pytest.mark.slow
def test_python_m_engine_serve_answers_over_pipes(writers: dict[str, Path]) -> None:
    """The real command: ready, a generate for another writer, info; exits when stdin ends."""
    lines = [
        json.dumps(request(1, str(writers["w3"]))),
        json.dumps({"id": 2, "op": "info", "writer": str(writers["w3"])}),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--model", str(writers["base"]),
         "--device", "cpu", "--max-loaded", "2", "--batch-wait-ms", "5"],
        cwd=ROOT, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert replies[0]["event"] == "ready"
    by_id = {r.get("id"): r for r in replies[1:]}
    assert by_id[1]["candidates"][0]["text"] == "r" * 12
    assert by_id[2]["info"]["model"] == "w3"
