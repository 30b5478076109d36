"""textgenrnn's network in PyTorch, run two ways over the same weights.

embedding -> stacked LSTM/GRU -> concat[embedding, rnn_1, ..., rnn_n] -> attention-weighted
average -> linear -> logits over characters.

One contract for training, evaluation and generation, nanoGPT's plus the carried state:
`forward(idx, targets=None, state=None, mode="stream") -> (logits, loss, state)`.

* stream mode: the RNN state is carried along the text and the attention at position t covers
  the last `window` positions ending at t, so training gets a loss at every position and
  generation costs one RNN step per character (`prime` reads a prompt, `step` one character).
* window mode: textgenrnn exactly. Each prediction reads a fixed window of tokens from a zero
  state and attends over all of it; one target per window.

`config.attention` picks the attention (engine/attention.py): "vector" is textgenrnn's (a
learned vector scores each step); "query" (stream models only) lets the current step's query
choose among the last `window` steps. A query model in window mode reads each window as a
stream from a zero state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.attention import QueryAttention, VectorAttention
from engine.model_config import Mode, ModelConfig

RnnState = Any  # (h, c) for an LSTM layer, h for a GRU layer; batch is dim 1


@dataclass
class StreamState:
    """Everything stream mode carries from one position to the next, for B rows."""

    rnn: list[RnnState]  # one per layer
    # The attention's memory of the last W steps, oldest first (engine/attention.py). Vector
    # attention: their features (B, W, D) and scores (B, W). Query attention: their keys and
    # values (B, W, 2A) and a mask (B, W) of 0. Either way -inf where the window is not filled.
    features: Tensor
    scores: Tensor

    @staticmethod
    def cat(states: list[StreamState]) -> StreamState:
        """Stack single-prompt states into one batch (rows in order)."""
        rnn = [
            _map_state(lambda *xs: torch.cat(xs, dim=1), *layer)
            for layer in zip(*(s.rnn for s in states), strict=True)
        ]
        return StreamState(
            rnn=rnn,
            features=torch.cat([s.features for s in states], dim=0),
            scores=torch.cat([s.scores for s in states], dim=0),
        )

    def select(self, rows: Tensor) -> StreamState:
        """The state of some rows (e.g. one prompt repeated for several candidates)."""
        return StreamState(
            rnn=[_map_state(lambda x: x.index_select(1, rows), layer) for layer in self.rnn],
            features=self.features.index_select(0, rows),
            scores=self.scores.index_select(0, rows),
        )


def _map_state(fn: Any, *layers: RnnState) -> RnnState:
    if isinstance(layers[0], tuple):
        return tuple(fn(*parts) for parts in zip(*layers, strict=True))
    return fn(*layers)


def _loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of (..., V) logits over the (...) targets that are not <pad> (0), so
    batches of uneven documents can be padded; 0 (not NaN) when every target is <pad>."""
    counted = (targets != 0).sum().clamp(min=1)
    total = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=0, reduction="sum"
    )
    return total / counted


class CharRNN(nn.Module):
    """The writer's network: `forward(idx, targets, state, mode) -> (logits, loss, state)`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        rnn_class = nn.LSTM if config.rnn_type == "lstm" else nn.GRU
        self.embedding = nn.Embedding(config.vocab_size, config.dim_embeddings)
        self.rnns = nn.ModuleList()
        width = config.dim_embeddings
        for _ in range(config.rnn_layers):
            self.rnns.append(
                rnn_class(
                    width,
                    config.rnn_size,
                    batch_first=True,
                    bidirectional=config.rnn_bidirectional,
                )
            )
            width = config.rnn_size * config.directions
        self.dropout = nn.Dropout(config.dropout)
        # textgenrnn's learned vector: one score per step. Every model has it (query models
        # too), so the tensors of a checkpoint are what they always were.
        self.attention = nn.Linear(config.feature_size, 1, bias=False)
        self.vector = VectorAttention(config.window)  # pools by those scores; no weights
        self.query: QueryAttention | None = None
        if config.attention == "query":
            self.query = QueryAttention(config.feature_size, config.attention_dim, config.window)
        self.output = nn.Linear(config.feature_size, config.vocab_size)

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        state: StreamState | None = None,
        mode: Mode = "stream",
    ) -> tuple[Tensor, Tensor | None, StreamState | None]:
        """The logits, the loss when targets are given, and the state to read on from.

        stream: idx and targets (B, T) -> logits (B, T, V) at every position. Reading a text in
        chunks, each given the state the previous one returned, gives the logits of one long
        forward; `state=None` starts from nothing.
        window: idx (B, L) windows, targets (B,) -> logits (B, V) of the token after each
        window, each read from a zero state; the state returned is None.
        The loss is the mean cross-entropy over targets that are not <pad> (0).
        """
        if mode == "window":
            logits, state = self.output(self._read_window(idx)), None  # (B, V)
        else:
            pooled, state = self._read(idx, state)  # (B, T, D)
            logits = self.output(pooled)  # (B, T, V)
        return logits, None if targets is None else _loss(logits, targets), state

    def features(
        self, idx: Tensor, state: list[RnnState] | None = None
    ) -> tuple[Tensor, list[RnnState]]:
        """(B, T) token ids -> (B, T, D) concatenated features and the RNN states at the end."""
        x = self.embedding(idx)  # (B, T, E)
        parts = [x]
        new_state: list[RnnState] = []
        for i, rnn in enumerate(self.rnns):
            x, layer_state = rnn(x, None if state is None else state[i])  # (B, T, H*dirs)
            x = self.dropout(x)
            parts.append(x)
            new_state.append(layer_state)
        return torch.cat(parts, dim=-1), new_state

    def _read_window(self, idx: Tensor) -> Tensor:
        """(B, L) windows -> (B, D) pooled features at the end of each, from a zero state."""
        if self.query is not None:  # a query model reads the window as a stream
            pooled, _ = self._read(idx, None)  # (B, L, D)
            return pooled[:, -1]
        feats, _ = self.features(idx)  # (B, L, D)
        return self.vector.whole(feats, self.attention(feats).squeeze(-1))

    def _read(self, idx: Tensor, state: StreamState | None) -> tuple[Tensor, StreamState]:
        """(B, T) ids -> (B, T, D) attention-pooled features and the state after them.

        Position t attends over the steps (t - window, t]: the carried memory, then this chunk."""
        feats, rnn_state = self.features(idx, None if state is None else state.rnn)  # (B, T, D)
        if state is None:
            memory, mask = (self.vector if self.query is None else self.query).empty(feats)
        else:
            memory, mask = state.features, state.scores
        if self.query is not None:
            pooled, memory, mask = self.query(feats, memory, mask)
        else:
            scores = self.attention(feats).squeeze(-1)  # (B, T)
            pooled, memory, mask = self.vector(feats, scores, memory, mask)
        return pooled, StreamState(rnn_state, memory, mask)

    def prime(self, idx: Tensor) -> tuple[Tensor, StreamState]:
        """Read a (B, T) prompt from a zero state -> (B, V) next logits and the state to go on."""
        pooled, state = self._read(idx, None)  # (B, T, D)
        return self.output(pooled[:, -1]), state  # only the last position is needed

    def step(self, idx: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Feed one token per row: (B,) ids -> (B, V) logits. One RNN step, O(window) attention;
        `forward` on a (B, 1) chunk computes the same, with more bookkeeping per step."""
        feats, rnn_state = self.features(idx.unsqueeze(1), state.rnn)  # (B, 1, D)
        return self.attend_step(feats[:, 0], rnn_state, state)

    def attend_step(
        self, feat: Tensor, rnn_state: list[RnnState], state: StreamState
    ) -> tuple[Tensor, StreamState]:
        """The attention and output half of `step`: (B, D) features of the new step -> (B, V)
        logits and the state after it (the CUDA-graph decoder computes the features itself)."""
        if self.query is not None:
            pooled, memory, mask = self.query.step(feat, state.features, state.scores)
        else:
            score = self.attention(feat)  # (B, 1)
            pooled, memory, mask = self.vector.step(feat, score, state.features, state.scores)
        return self.output(pooled), StreamState(rnn_state, memory, mask)

    # -- vocabulary growth ----------------------------------------------------------------------

    @torch.no_grad()
    def grow_vocab(self, new_size: int, like: int | None = None) -> None:
        """Append rows for new characters; learned rows are kept.

        `like=None`: the new characters start almost impossible (tiny logits), so predictions on
        old text do not change. `like=<unk index>`: they start as the model knew them, as <unk>:
        its embedding, and its output row sharing its probability between them (old characters
        lose a fraction p(<unk>) of theirs, which is tiny where <unk> is rare).
        """
        old_size = self.config.vocab_size
        if new_size <= old_size:
            return
        extra = new_size - old_size
        emb = self.embedding.weight  # (V, E)
        if like is None:
            new_emb = torch.randn(extra, emb.size(1), device=emb.device, dtype=emb.dtype)
            new_emb = new_emb * emb.std()
        else:
            new_emb = emb[like].detach().expand(extra, -1)
        self.embedding = nn.Embedding.from_pretrained(torch.cat([emb, new_emb]), freeze=False)
        weight, bias = self.output.weight, self.output.bias  # (V, D), (V,)
        output = nn.Linear(weight.size(1), new_size, device=weight.device, dtype=weight.dtype)
        if like is None:
            new_weight = weight.new_zeros(extra, weight.size(1))
            new_bias = bias.new_full((extra,), float(bias.min()) - 20.0)
        else:
            new_weight = weight[like].detach().expand(extra, -1)
            new_bias = (bias[like] - math.log(extra)).detach().expand(extra)
        output.weight.copy_(torch.cat([weight, new_weight]))
        output.bias.copy_(torch.cat([bias, new_bias]))
        self.output = output
        self.config = self.config.with_vocab_size(new_size)


def pick_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def has_fast_bfloat16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 matrix products in hardware: a GPU that supports
    them, or a CPU with AVX512-BF16 or AMX (torch's own probes; elsewhere bfloat16 would be
    emulated, slower than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
