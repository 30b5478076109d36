"""Held-out loss: window mode is textgenrnn's measure."""

from __future__ import annotations

import pytest
import torch

from engine.data import Document, encode, target_positions, windows
from engine.evaluate import evaluate
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.vocab import Vocab


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
