"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

WRITER_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,!?'\"\n"
    "용이성에서공주는잠을잤다하고그리고말했다요까"
)


@pytest.fixture(scope="session")
def random_writer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained writer checkpoint: valid, fast, and writes gibberish (bot tests only
    need real candidates, not good ones)."""
    import torch

    from engine import checkpoint
    from engine.config import ModelConfig
    from engine.model import CharRNN
    from engine.vocab import Vocab

    torch.manual_seed(0)
    vocab = Vocab.build([WRITER_ALPHABET])
    model = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=16, rnn_size=32))
    folder = tmp_path_factory.mktemp("writer") / "tiny"
    checkpoint.save(checkpoint.Checkpoint(model, vocab, {"note": "untrained test model"}), folder)
    return folder
