"""Training and evaluation: documents and batches, the loop, reproducibility, resume, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from engine import checkpoint
from engine.config import ModelConfig
from engine.data import (
    Document,
    encode,
    read_text_file,
    split_documents,
    split_validation,
    target_positions,
    track_batches,
    windows,
)
from engine.errors import DataError, EngineError
from engine.evaluate import evaluate
from engine.model import CharRNN
from engine.train import train
from engine.vocab import Vocab
from tests.engine.conftest import TINY_MODEL, TINY_TEXT, tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")


ROOT = Path(__file__).resolve().parents[2]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(folder).model.state_dict()


# -- reading and cutting text ---------------------------------------------------------------------


def test_bad_utf8_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused with its name in the message."""
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt"):
        read_text_file(bad)


def test_binary_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    """A binary file (NUL bytes) is refused even where its bytes happen to be valid UTF-8."""
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DataError, match=r"image\.png"):
        read_text_file(binary)


def test_text_is_read_as_nfc_with_plain_newlines(tmp_path: Path) -> None:
    """Decomposed Hangul and CRLF newlines come out composed and as '\\n'."""
    path = tmp_path / "ko.txt"
    path.write_bytes("\u1100\u1161\r\n".encode())  # jamo for 가
    assert read_text_file(path) == "가\n"


def test_line_docs_give_one_closed_document_per_non_empty_line() -> None:
    """--line-docs: each non-empty line is a document whose end is predicted."""
    docs = split_documents("first\n\n  second  \nthird\n", line_docs=True)
    assert docs == [Document("first", True), Document("second", True), Document("third", True)]


def test_continuous_text_is_cut_into_blocks_at_paragraph_ends() -> None:
    """Blocks end at paragraph boundaries and together hold every paragraph, in order."""
    paragraphs = [f"Paragraph {i} " + "word " * (i % 5 + 3) for i in range(40)]
    docs = split_documents("\n\n".join(paragraphs), block_chars=120)
    assert len(docs) > 5
    assert all(not d.closed for d in docs)
    pieces = [p for d in docs for p in d.text.split("\n\n")]
    assert [p.strip() for p in pieces] == [p.strip() for p in paragraphs]


def test_validation_split_is_by_document_and_seeded() -> None:
    """The same seed picks the same held-out documents; train and val never share one."""
    docs = [Document(f"doc {i}", True) for i in range(100)]
    train_a, val_a = split_validation(docs, 0.1, seed=1)
    train_b, val_b = split_validation(docs, 0.1, seed=1)
    _, val_c = split_validation(docs, 0.1, seed=2)
    assert (train_a, val_a) == (train_b, val_b)
    assert val_a != val_c
    assert len(val_a) == 10
    assert sorted(d.text for d in train_a + val_a) == sorted(d.text for d in docs)


# -- encoding and batches -------------------------------------------------------------------------


def test_window_examples_follow_textgenrnn() -> None:
    """<s> + text, the last max_length tokens before each target, left-padded with 0,
    never reaching into the previous document; a closed document's end is a target."""
    vocab = Vocab.build(["abcde"])
    s, a, b, c, d, e = (vocab.start_index, *vocab.encode("abcde"))
    stream = encode([Document("ab", True), Document("cde", True)], vocab)
    positions = target_positions(stream)
    got = windows(stream, positions, 3).tolist()
    targets = stream.targets[positions].tolist()
    assert got == [
        [0, 0, s], [0, s, a], [s, a, b],
        [0, 0, s], [0, s, c], [s, c, d], [c, d, e],
    ]  # fmt: skip
    assert targets == [a, b, s, c, d, e, s]


def test_open_documents_do_not_learn_an_end() -> None:
    """A block of continuous text has no real end, so nothing is predicted after it."""
    vocab = Vocab.build(["abc"])
    stream = encode([Document("ab"), Document("c")], vocab)
    assert stream.targets.tolist() == [*vocab.encode("ab"), 0, *vocab.encode("c"), 0]


def test_stream_tracks_continue_from_one_batch_to_the_next() -> None:
    """Row b of batch k + 1 continues row b of batch k, so the state can be carried over."""
    vocab = Vocab.build([TINY_TEXT])
    stream = encode(split_documents(TINY_TEXT), vocab)
    batches = list(track_batches(stream, 4, 16, torch.Generator().manual_seed(0)))
    assert len(batches) > 2
    length = len(stream)
    rows = torch.cat([x for x, _ in batches], dim=1)  # (B, steps * T)
    for row in rows:
        span = torch.arange(row.numel())
        assert any(
            torch.equal(stream.inputs[(start + span) % length].long(), row)
            for start in range(length)
        )


def test_chunked_stream_forward_equals_one_long_forward() -> None:
    """Reading a text in chunks with the carried state gives the logits of one forward."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=12, dim_embeddings=8, rnn_size=16, window=6)).eval()
    idx = torch.randint(0, 12, (3, 23))
    with torch.no_grad():
        whole, _, _ = model(idx)
        parts, state = [], None
        for begin in range(0, 23, 5):
            logits, _, state = model(idx[:, begin : begin + 5], state=state)
            parts.append(logits)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)


def test_window_evaluation_is_the_mean_loss_of_textgenrnn_examples() -> None:
    """Window-mode eval equals the cross-entropy of the window-mode logits on each example."""
    torch.manual_seed(0)
    vocab = Vocab.build(["hello world"])
    model = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=8, rnn_size=8, max_length=4))
    docs = [Document("hello", True), Document("world", True)]
    stream = encode(docs, vocab)
    positions = target_positions(stream)
    with torch.no_grad():
        logits, _, _ = model.eval()(windows(stream, positions, 4), mode="window")
        expected = torch.nn.functional.cross_entropy(logits, stream.targets[positions].long())
    result = evaluate(model, vocab, docs, mode="window")
    assert result["chars"] == 12  # 10 characters + 2 ends
    assert result["nats_per_char"] == pytest.approx(float(expected), abs=1e-5)


# -- the loop -------------------------------------------------------------------------------------


def test_tiny_model_overfits_a_short_text(tmp_path: Path) -> None:
    """A tiny model learns a short text almost by heart (stream loss near zero)."""
    options = tiny_options(
        epochs=40, batch_size=4, seq_len=16, lr=1e-2, model=dict(TINY_MODEL, window=2)
    )
    train([TINY_TEXT], tmp_path / "m", options)
    loaded = checkpoint.load(tmp_path / "m")
    assert evaluate(loaded.model, loaded.vocab, [TINY_TEXT])["nats_per_char"] < 0.15


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
    # One thread: the tiny model trains faster so, and the test CPU may be shared.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
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
        "--rnn-layers", "1", "--device", "cpu", "--json",
    )  # fmt: skip
    assert trained["out"] == str(out) and trained["epochs"] == 2 and trained["steps"] > 0
    assert trained["val_nats_per_char"] > 0
    for mode in ("stream", "window"):
        result = _cli("eval", "--model", str(out), "--text-file", str(text), "--line-docs",
                      "--mode", mode, "--json")  # fmt: skip
        assert set(result) >= {"nats_per_char", "bits_per_char", "chars"}
        assert result["chars"] == len(text.read_text(encoding="utf-8"))  # newline = end token
