"""The writer's settings: one frozen dataclass that travels inside every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import CheckpointError

# The two ways to run the same weights (engine/model.py): carry the state along the text, or
# read each prediction's window from a zero state (textgenrnn's).
Mode = Literal["stream", "window"]
RnnType = Literal["lstm", "gru"]
# "vector": textgenrnn's attention, a learned vector scores each step (window mode, imports and
# every checkpoint written before there was a choice). "query": stream mode only, the current
# step's query reads the last `window` steps (engine/attention.py).
Attention = Literal["vector", "query"]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network. The defaults are textgenrnn's (embedding 100, 2 x LSTM 128)."""

    vocab_size: int
    dim_embeddings: int = 100
    rnn_size: int = 128
    rnn_layers: int = 2
    rnn_type: RnnType = "lstm"
    # Bidirectional layers see the future, so they only make sense in window mode.
    rnn_bidirectional: bool = False
    dropout: float = 0.0
    # Window mode: every prediction reads the last `max_length` tokens from a zero state.
    max_length: int = 40
    # Stream mode: the attention covers the last `window` steps ending at each position.
    window: int = 40
    # A config.json without these keys predates the choice: it means textgenrnn's attention.
    attention: Attention = "vector"
    attention_dim: int = 64  # query attention: width of queries, keys and values

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise CheckpointError("config.json: vocab_size must be at least 2")
        if self.rnn_type not in ("lstm", "gru"):
            raise CheckpointError(
                f"config.json: rnn_type must be 'lstm' or 'gru', not {self.rnn_type!r}"
            )
        if self.attention not in ("vector", "query"):
            raise CheckpointError(
                f"config.json: attention must be 'vector' or 'query', not {self.attention!r}"
            )
        if self.attention == "query" and self.rnn_bidirectional:
            raise CheckpointError("config.json: query attention needs a unidirectional RNN")
        names = ("dim_embeddings", "rnn_size", "rnn_layers", "max_length", "window")
        for name in (*names, "attention_dim"):
            if getattr(self, name) < 1:
                raise CheckpointError(f"config.json: {name} must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise CheckpointError("config.json: dropout must be in [0, 1)")

    @property
    def directions(self) -> int:
        return 2 if self.rnn_bidirectional else 1

    @property
    def feature_size(self) -> int:
        """Width of the concatenation [embedding, rnn_1, ..., rnn_n] that the attention reads."""
        return self.dim_embeddings + self.rnn_layers * self.rnn_size * self.directions

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from JSON, refusing unknown keys so that a typo is not silently ignored."""
        if not isinstance(data, dict):
            raise CheckpointError("config.json: expected a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"config.json: unknown keys {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"config.json: {exc}") from exc

    def with_vocab_size(self, vocab_size: int) -> ModelConfig:
        return dataclasses.replace(self, vocab_size=vocab_size)
