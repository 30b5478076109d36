"""The CUDA-graph decode loop, everything of it a CPU can check: the cell step is the model's
step, the fixed-shape loop (what a CUDA graph replays) writes the texts of the eager loop, and a
failed capture falls back to the eager loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine import generate
from engine._decode_eager import decode_eager
from engine._decode_graph import bucket, cell_step, decode_graph
from engine._decode_step import Job
from engine.generate import context_ids, decode
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.requests import SampleSettings
from engine.vocab import normalize

pytestmark = pytest.mark.usefixtures("one_thread")


def test_buckets_are_multiples_of_eight() -> None:
    assert [bucket(n) for n in (1, 3, 8, 9, 1000, 9216)] == [8, 8, 8, 16, 1000, 9216]


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ["vector", "query"])
def test_the_cell_step_is_the_models_step(rnn_type: str, attention: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=12,
        dim_embeddings=8,
        rnn_size=16,
        rnn_type=rnn_type,  # type: ignore[arg-type]
        window=4,
        attention=attention,  # type: ignore[arg-type]
    )
    net = CharRNN(config).eval()
    if net.query is not None:
        torch.nn.init.normal_(net.query.out.weight)
    idx = torch.randint(1, 12, (3, 9))
    with torch.no_grad():
        _, state = net.prime(idx[:, :5])
        cell_state = state
        for t in range(5, 9):
            logits, state = net.step(idx[:, t], state)
            cell_logits, cell_state = cell_step(net, idx[:, t], cell_state)
            assert torch.allclose(cell_logits, logits, atol=1e-5)


def jobs_for(vocab: object, specs: list[tuple[str, str, float, int, SampleSettings]]) -> list[Job]:
    jobs = []
    for prompt, (context, keyword, temperature, seed, settings) in enumerate(specs):
        keyword = normalize(keyword)
        ids = context_ids(vocab, context, tail=None) + vocab.encode(keyword)  # type: ignore[attr-defined]
        jobs.append(Job(prompt, ids, keyword, temperature, seed, settings))
    return jobs


def test_the_fixed_shape_loop_writes_the_texts_of_the_ordinary_loop(
    tiny_checkpoint: Path,
) -> None:
    """Five rows (padded to eight) with every kind of setting: stops, keywords,
    top-k, top-p, the repetition penalty, greedy rows; same texts and scores."""
    loaded = ckpt.load(tiny_checkpoint)
    plain = SampleSettings(max_chars=60)
    stops = SampleSettings(max_chars=80, min_chars=10, stop_at_sentence_end=True)
    filtered = SampleSettings(max_chars=50, top_k=5, top_p=0.9, repetition_penalty=1.3)
    specs = [
        ("The cat sat", "", 0.8, 1, plain),
        ("고양이가", " 매트", 1.0, 2, stops),
        ("The dog", " on", 0.7, 3, filtered),
        ("", "", 0.0, 4, stops),
        ("개가 통나무", "", 1.2, 5, filtered),
    ]
    jobs = jobs_for(loaded.vocab, specs)
    with torch.inference_mode():
        expected = decode_eager(loaded.model, loaded.vocab, jobs, "stream")
        got = decode_graph(loaded.model, loaded.vocab, jobs, capture=False)
    assert got[0] == expected[0]
    assert got[1] == pytest.approx(expected[1], abs=1e-5)
    assert len({len(text) for text in got[0]}) > 1  # the stops did stop some rows


def test_a_failed_capture_falls_back_to_the_ordinary_loop(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GPU that refuses the capture still writes, the same texts, and is not asked again."""
    loaded = ckpt.load(tiny_checkpoint)
    jobs = jobs_for(loaded.vocab, [("The cat sat", "", 0.8, 1, SampleSettings(max_chars=40))])
    with torch.inference_mode():
        expected = decode_eager(loaded.model, loaded.vocab, jobs, "stream")
    captures: list[int] = []

    def refuse(*args: object, **kwargs: object) -> None:
        captures.append(1)
        raise RuntimeError("operation not permitted when stream is capturing")

    wanted = generate._graphs_wanted
    cuda = torch.device("cuda")
    monkeypatch.delenv(generate.CUDA_GRAPHS, raising=False)
    monkeypatch.setattr(generate, "_GRAPHS_FAILED", [])
    monkeypatch.setattr(generate, "decode_graph", refuse)
    assert wanted(cuda, "stream") and not wanted(cuda, "window")
    # The tiny model is on the CPU: let decode take the CUDA branch as a GPU would.
    monkeypatch.setattr(generate, "_graphs_wanted", lambda device, mode: wanted(cuda, mode))
    with torch.inference_mode():
        assert decode(loaded.model, loaded.vocab, jobs, "stream") == expected
        assert decode(loaded.model, loaded.vocab, jobs, "stream") == expected
    assert captures == [1] and "CUDA graphs off" in capsys.readouterr().err
    assert not wanted(cuda, "stream")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the capture itself")
def test_the_captured_step_writes_the_texts_of_the_uncaptured_step(tiny_checkpoint: Path) -> None:
    """On a GPU: replaying the recorded step is running it (same kernels, so same texts)."""
    loaded = ckpt.load(tiny_checkpoint, "cuda")
    settings = SampleSettings(max_chars=80, min_chars=10, stop_at_sentence_end=True, top_p=0.9)
    jobs = jobs_for(
        loaded.vocab, [("The cat sat", " on", 0.8, seed, settings) for seed in (1, 2, 3)]
    )
    with torch.inference_mode():
        eager = decode_graph(loaded.model, loaded.vocab, jobs, capture=False)
        replayed = decode_graph(loaded.model, loaded.vocab, jobs, capture=True)
    assert replayed[0] == eager[0]
    assert replayed[1] == pytest.approx(eager[1], abs=1e-5)
