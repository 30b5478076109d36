"""Reading a writer for speed and size: int8 copies for the CPU, half-precision files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import checkpoint as ckpt
from engine.errors import EngineError
from engine.evaluate import evaluate
from engine.generate import Prompt, SampleSettings, generate
from engine.quantize import quantize_model
from engine.service import Worker
from tests.engine.conftest import TINY_TEXT

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = SampleSettings(max_chars=40, stop_at_sentence_end=False, temperatures=(0.8,))


def test_an_int8_writer_reads_almost_as_the_float_one(tiny_checkpoint: Path) -> None:
    """The held-out loss moves little; the float model is left as it was."""
    plain = ckpt.load(tiny_checkpoint)
    small = ckpt.load(tiny_checkpoint, quantize="int8")
    assert type(small.model.rnns[0]) is not torch.nn.LSTM  # the int8 module took its place
    assert type(plain.model.rnns[0]) is torch.nn.LSTM
    before = evaluate(plain.model, plain.vocab, [TINY_TEXT])["nats_per_char"]
    after = evaluate(small.model, small.vocab, [TINY_TEXT])["nats_per_char"]
    assert abs(after - before) < 0.05, (before, after)


def test_an_int8_writer_generates_seeded_text(tiny_checkpoint: Path) -> None:
    """Same seed, same text; temperature 0 is the same for every seed."""
    small = ckpt.load(tiny_checkpoint, quantize="int8")
    prompt = Prompt("The cat", n=2, seed=3, settings=SETTINGS)
    first = generate(small.model, small.vocab, [prompt])[0]
    again = generate(small.model, small.vocab, [prompt])[0]
    assert [s.text for s in first] == [s.text for s in again]
    assert all(s.text for s in first)
    greedy = SampleSettings(max_chars=30, stop_at_sentence_end=False, temperatures=(0.0,))
    texts = {
        generate(small.model, small.vocab, [Prompt("The", n=1, seed=s, settings=greedy)])[0][
            0
        ].text
        for s in (1, 2)
    }
    assert len(texts) == 1


def test_int8_is_for_the_cpu_only(tiny_checkpoint: Path) -> None:
    model = ckpt.load(tiny_checkpoint).model
    with pytest.raises(EngineError, match="CPU only"):
        quantize_model(model, "int8", "cuda")
    with pytest.raises(EngineError, match="quantize must be"):
        quantize_model(model, "int4", "cpu")  # type: ignore[arg-type]
    assert quantize_model(model, "none") is model


def test_the_worker_serves_int8_writers(tiny_checkpoint: Path) -> None:
    worker = Worker(str(tiny_checkpoint), torch.device("cpu"), quantize="int8")
    prompt = Prompt("The dog", n=2, seed=1, settings=SETTINGS)
    (candidates,) = worker.answer([prompt], "")
    assert len(candidates) == 2 and all(c["text"] for c in candidates)
    assert worker.info()["device"] == "cpu" and worker.info()["int8"]


def test_half_precision_weights_load_into_a_float32_model(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A writer saved in float16 is half the size on disk and reads as float32 again."""
    loaded = ckpt.load(tiny_checkpoint)
    folder = ckpt.save(loaded, tmp_path / "half", dtype=torch.float16)
    stored = load_file(str(folder / ckpt.WEIGHTS))
    assert {t.dtype for t in stored.values()} == {torch.float16}
    half = ckpt.load(folder)
    assert {p.dtype for p in half.model.parameters()} == {torch.float32}
    before = evaluate(loaded.model, loaded.vocab, [TINY_TEXT])["nats_per_char"]
    after = evaluate(half.model, half.vocab, [TINY_TEXT])["nats_per_char"]
    assert abs(after - before) < 0.01
    shutil.rmtree(folder)
