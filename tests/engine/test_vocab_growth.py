"""Growing the vocabulary: new characters get rows, old predictions do not move."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import torch

from engine import checkpoint
from engine.evaluate import evaluate
from engine.train import train
from tests.engine.conftest import TINY_TEXT, tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")


NEW_TEXT = "Café crème, naïve façade. 카페 크림, 순진한 외관.\n" * 4


@pytest.mark.parametrize("mode", ["stream", "window"])
def test_growing_the_vocabulary_leaves_the_loss_on_old_text_unchanged(
    tiny_checkpoint: Path, mode: Literal["stream", "window"]
) -> None:
    """Appending rows for new characters changes the loss on old text by < 1e-5 nats/char."""
    loaded = checkpoint.load(tiny_checkpoint)
    model, vocab = loaded.model, loaded.vocab
    before = evaluate(model, vocab, [TINY_TEXT], mode)["nats_per_char"]
    new_chars = vocab.new_chars([NEW_TEXT])
    assert new_chars
    grown = vocab.grown(new_chars)
    model.grow_vocab(len(grown))
    after = evaluate(model, grown, [TINY_TEXT], mode)["nats_per_char"]
    assert after == pytest.approx(before, abs=1e-5)


def test_growing_keeps_every_learned_row(tiny_checkpoint: Path) -> None:
    """Embedding and output rows of old characters are unchanged; indices are kept."""
    loaded = checkpoint.load(tiny_checkpoint)
    old = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    size = len(loaded.vocab)
    grown = loaded.vocab.grown(loaded.vocab.new_chars([NEW_TEXT]))
    loaded.model.grow_vocab(len(grown))
    new = loaded.model.state_dict()
    assert grown.tokens[:size] == loaded.vocab.tokens
    for name in ("embedding.weight", "output.weight", "output.bias"):
        assert torch.equal(new[name][:size], old[name])
        assert new[name].shape[0] == len(grown)


def test_fine_tune_grows_the_vocabulary_and_learns_the_new_text(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """`from_dir` on text with new characters: a larger vocabulary, and lower loss on it."""
    parent = checkpoint.load(tiny_checkpoint)
    metrics = train(
        [NEW_TEXT],
        tmp_path / "ft",
        tiny_options(epochs=15, from_dir=str(tiny_checkpoint)),
    )
    child = checkpoint.load(tmp_path / "ft")
    assert child.vocab.tokens[: len(parent.vocab)] == parent.vocab.tokens
    assert set(metrics["new_chars"]) == set(parent.vocab.new_chars([NEW_TEXT]))
    assert len(child.vocab) == len(parent.vocab) + len(metrics["new_chars"])
    grown = parent.vocab.grown(metrics["new_chars"])
    parent.model.grow_vocab(len(grown))
    before = evaluate(parent.model, grown, [NEW_TEXT])["nats_per_char"]
    after = evaluate(child.model, child.vocab, [NEW_TEXT])["nats_per_char"]
    assert after < before - 1.0
