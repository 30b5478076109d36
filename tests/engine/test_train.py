"""Training: the loop, reproducibility, resume, the CLI (with `eval`)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import torch

import engine.train
from engine import checkpoint
from engine.data import Document, TokenStream
from engine.errors import DataError, EngineError
from engine.evaluate import evaluate
from engine.model import has_fast_bfloat16
from engine.train import train
from engine.train_options import NEW_MODEL_DECAY
from engine.vocab import Vocab
from tests.engine.conftest import TINY_MODEL, TINY_TEXT, run_engine, tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(folder).model.state_dict()


# -- the loop -------------------------------------------------------------------------------------


def test_tiny_model_overfits_a_short_text(tmp_path: Path) -> None:
    """A tiny model learns a short text almost by heart (stream loss near zero)."""
    options = tiny_options(
        epochs=40, batch_size=4, seq_len=16, lr=1e-2, model=dict(TINY_MODEL, window=2)
    )
    train([TINY_TEXT], tmp_path / "m", options)
    loaded = checkpoint.load(tmp_path / "m")
    assert evaluate(loaded.model, loaded.vocab, [TINY_TEXT])["nats_per_char"] < 0.15


def test_bfloat16_steps_learn_and_keep_float32_weights(tmp_path: Path) -> None:
    """precision="bfloat16" runs each step's forward under autocast: the tiny model still
    learns the text by heart, and what it saves is float32 as ever."""
    options = tiny_options(
        epochs=40,
        batch_size=4,
        seq_len=16,
        lr=1e-2,
        model=dict(TINY_MODEL, window=2),
        precision="bfloat16",
    )
    train([TINY_TEXT], tmp_path / "m", options)
    loaded = checkpoint.load(tmp_path / "m")
    tensors = loaded.model.state_dict().values()
    assert {t.dtype for t in tensors if t.is_floating_point()} == {torch.float32}
    assert evaluate(loaded.model, loaded.vocab, [TINY_TEXT])["nats_per_char"] < 0.3


def test_auto_precision_is_decided_by_the_hardware_and_kept(tmp_path: Path) -> None:
    """Precision "auto" trains in bfloat16 where the device computes it in hardware, else in
    float32; metrics.json keeps which it was, not "auto"."""
    train([TINY_TEXT], tmp_path / "m", tiny_options(epochs=1, precision="auto"))
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    fast = has_fast_bfloat16(torch.device("cpu"))
    assert metrics["options"]["precision"] == ("bfloat16" if fast else "float32")


def test_an_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="precision"):
        train([TINY_TEXT], tmp_path / "m", tiny_options(epochs=1, precision="float8"))


def test_a_split_seed_keeps_the_held_out_documents_whatever_the_seed(tmp_path: Path) -> None:
    """Runs of two seeds with one split_seed hold out the same documents (so their validation
    figures compare) and still draw different weights."""
    text = "\n".join(f"line {n}: " + "abcdefgh"[n % 8] * (n % 13 + 1) for n in range(40))
    runs = {}
    for seed in (0, 1):
        folder = tmp_path / f"seed{seed}"
        options = tiny_options(epochs=1, seed=seed, split_seed=0, val_fraction=0.3, line_docs=True)
        train([text], folder, options)
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        runs[seed] = (metrics["data_sha256"], _weights(folder)["output.weight"])
    assert runs[0][0] == runs[1][0]  # the same train and validation documents
    assert not torch.equal(runs[0][1], runs[1][1])


def test_weight_decay_shrinks_the_weights_and_is_kept_in_the_metrics(tmp_path: Path) -> None:
    """AdamW's decoupled decay pulls every weight toward zero: the same run with it ends with
    smaller weights than without; the metrics keep the value it ran with."""
    norms = {}
    for decay in (0.0, 1.0):
        folder = tmp_path / f"wd{decay}"
        train([TINY_TEXT], folder, tiny_options(epochs=6, weight_decay=decay))
        norms[decay] = sum(float(w.square().sum()) for w in _weights(folder).values())
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["options"]["weight_decay"] == decay
    assert norms[1.0] < 0.9 * norms[0.0]


def _orders_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, titles: list[str], shuffle: bool
) -> list[list[str]]:
    """The order of the titles in each stream a 3-epoch run encodes."""
    orders: list[list[str]] = []
    real_encode = engine.train.encode

    def spy(docs: list[Document], vocab: Vocab) -> TokenStream:
        orders.append([d.text for d in docs])
        return real_encode(docs, vocab)

    monkeypatch.setattr(engine.train, "encode", spy)
    options = tiny_options(epochs=3, line_docs=True, shuffle=shuffle)
    train(["\n".join(titles)], tmp_path / f"shuffle-{shuffle}", options)
    return orders


def test_shuffle_lays_the_documents_in_a_new_order_each_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With shuffle each epoch reads every title once, in an order of its own; without it, the
    file's order throughout (one stream, encoded once)."""
    titles = [f"title number {i}" for i in range(12)]
    assert _orders_read(tmp_path, monkeypatch, titles, shuffle=False) == [titles]
    first, *epochs = _orders_read(tmp_path, monkeypatch, titles, shuffle=True)
    assert first == titles  # the stream the run is set up with
    assert len(epochs) == 3 and all(sorted(o) == sorted(titles) for o in epochs)
    assert titles not in epochs and len({tuple(o) for o in epochs}) == 3


def test_window_mode_training_learns_textgenrnn_examples(tmp_path: Path) -> None:
    """--mode window trains on one-target windows and its held-out loss goes down."""
    text = TINY_TEXT.replace(". ", ".\n")
    options = tiny_options(epochs=4, mode="window", batch_size=16, line_docs=True)
    metrics = train([text], tmp_path / "w", options)
    losses = [point[2] for point in metrics["train_loss"]]
    assert losses[-1] < losses[0] - 0.5
    loaded = checkpoint.load(tmp_path / "w")
    assert evaluate(loaded.model, loaded.vocab, [text], "window", line_docs=True)["chars"] == len(
        text
    )


def test_time_budget_stops_the_run_and_decays_to_the_end(tmp_path: Path) -> None:
    """--time-budget ends the run after about that long, with a final checkpoint."""
    options = tiny_options(epochs=None, time_budget=1.0)
    metrics = train([TINY_TEXT * 4], tmp_path / "t", options)
    assert 1.0 <= metrics["seconds"] < 20.0  # generous: the test CPU may be shared
    assert metrics["finished"] and metrics["epochs"] >= 1
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["finished"]


def _rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: object) -> list[float]:
    """The learning rate of every step of a 10-epoch run."""
    rates: list[float] = []

    class Recording(torch.optim.AdamW):
        def step(self, closure: Any = None) -> Any:
            rates.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(engine.train.torch.optim, "AdamW", Recording)
    train([TINY_TEXT], tmp_path / f"rates{len(changes)}", tiny_options(epochs=10, **changes))
    return rates


def test_decay_holds_the_rate_until_the_last_part_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decay=1 lowers the rate from the first step; decay=0.3 holds it for the first 70 % of the
    steps and then lowers it linearly, to near 0 at the end."""
    falling = _rates(tmp_path, monkeypatch)
    assert falling[0] == 1e-2 and all(b < a for a, b in pairwise(falling))
    held = _rates(tmp_path, monkeypatch, decay=0.3)
    steps = len(held)
    assert held[: int(0.7 * steps)] == [1e-2] * int(0.7 * steps)
    tail = held[int(0.72 * steps) :]
    assert all(b < a for a, b in pairwise(tail)) and tail[-1] < 1e-3
    with pytest.raises(EngineError, match="decay"):
        train([TINY_TEXT], tmp_path / "bad", tiny_options(decay=0.0))


def test_same_seed_gives_bit_identical_weights_and_losses(tmp_path: Path) -> None:
    """Two runs with the same seed and text end with equal tensors and equal loss curves."""
    options = tiny_options(epochs=3, val_fraction=0.2, line_docs=True)
    text = TINY_TEXT.replace(". ", ".\n")
    first = train([text], tmp_path / "a", options)
    second = train([text], tmp_path / "b", options)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first["train_loss"] == second["train_loss"]
    assert first["val_loss"] == second["val_loss"]
    other = train(
        [text], tmp_path / "c", tiny_options(epochs=3, val_fraction=0.2, line_docs=True, seed=1)
    )
    assert other["train_loss"] != first["train_loss"]


class _Crash(Exception):
    """Stands for a crash in the middle of an epoch."""


def test_resume_after_a_crash_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    """--resume continues from the last epoch's checkpoint and ends bit-identical."""
    options = tiny_options(epochs=3)
    train([TINY_TEXT], tmp_path / "whole", options)

    def crash_in_third_epoch(event: dict[str, Any]) -> None:
        if event["epoch"] == 2:
            raise _Crash

    with pytest.raises(_Crash):
        train([TINY_TEXT], tmp_path / "run", options, on_progress=crash_in_third_epoch)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 2
    metrics = train([TINY_TEXT], tmp_path / "run", tiny_options(epochs=3, resume=True))
    assert metrics["epochs"] == 3 and metrics["finished"]
    whole, resumed = _weights(tmp_path / "whole"), _weights(tmp_path / "run")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_resume_refuses_different_text(tmp_path: Path) -> None:
    """Resuming with other text would silently change the split: refused."""
    train([TINY_TEXT], tmp_path / "m", tiny_options(epochs=1))
    with pytest.raises(DataError, match="differs"):
        train(["something else entirely"], tmp_path / "m", tiny_options(epochs=2, resume=True))


def test_out_folder_that_is_not_a_checkpoint_is_not_replaced(tmp_path: Path) -> None:
    """`--out` pointing at an ordinary folder is refused instead of being overwritten."""
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(EngineError, match="not a checkpoint"):
        train([TINY_TEXT], tmp_path, tiny_options(epochs=1))
    assert (tmp_path / "notes.txt").exists()


def test_metrics_keep_curves_and_the_run_it_was_fine_tuned_from(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """metrics.json has the loss curves, seed, data files, and the parent run as history."""
    metrics = train(
        ["The cat ate. 고양이가 먹었다.\n" * 5],
        tmp_path / "ft",
        tiny_options(epochs=2, from_dir=str(tiny_checkpoint), val_fraction=0.0),
        sources=["novel.txt"],
    )
    saved = json.loads((tmp_path / "ft" / "metrics.json").read_text(encoding="utf-8"))
    assert saved["data_files"] == ["novel.txt"] and saved["seed"] == 0
    assert saved["train_loss"] and saved["chars_seen"] > 0 and saved["seconds"] > 0
    assert saved["from"] == str(tiny_checkpoint)
    parent = json.loads((tiny_checkpoint / "metrics.json").read_text(encoding="utf-8"))
    assert saved["history"][-1]["train_loss"] == parent["train_loss"]
    assert metrics["epochs"] == 2


# -- the CLI --------------------------------------------------------------------------------------


def _cli(*args: str) -> dict[str, Any]:
    done = run_engine(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


@pytest.mark.slow
def test_cli_train_and_eval_print_one_json_object(tmp_path: Path) -> None:
    """`train ... --json` and `eval ... --json` each print exactly one JSON object."""
    text = tmp_path / "titles.txt"
    text.write_text(TINY_TEXT.replace(". ", ".\n"), encoding="utf-8")
    out = tmp_path / "model"
    trained = _cli(
        "train", "--text", str(text), "--out", str(out), "--line-docs", "--epochs", "2",
        "--batch-size", "4", "--seq-len", "16", "--dim-embeddings", "8", "--rnn-size", "16",
        "--rnn-layers", "1", "--device", "cpu", "--clip", "2.5", "--json",
    )  # fmt: skip
    assert trained["out"] == str(out) and trained["epochs"] == 2 and trained["steps"] > 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["options"]["clip"] == 2.5  # the options given reach the run
    assert metrics["options"]["shuffle"] is True  # one title per line: shuffled unless told
    assert metrics["options"]["decay"] == NEW_MODEL_DECAY  # a new model's schedule
    assert trained["val_nats_per_char"] > 0
    for mode in ("stream", "window"):
        result = _cli("eval", "--model", str(out), "--text-file", str(text), "--line-docs",
                      "--mode", mode, "--json")  # fmt: skip
        assert set(result) >= {"nats_per_char", "bits_per_char", "chars"}
        assert result["chars"] == len(text.read_text(encoding="utf-8"))  # newline = end token
