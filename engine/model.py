"""textgenrnn's network in PyTorch, run two ways over the same weights.

embedding -> stacked LSTM/GRU -> concat[embedding, rnn_1, ..., rnn_n] -> attention-weighted
average -> linear -> logits over characters.

* window mode (`forward_window`): textgenrnn exactly. Each prediction reads a fixed window of
  tokens from a zero state and attends over all of it.
* stream mode (`forward`, `prime`, `step`): the RNN state is carried along the text and the
  attention at position t covers the last `window` positions ending at t. Training gets a loss at
  every position and generation costs one RNN step per character. `forward` is nanoGPT's
  contract plus the carried state: `forward(idx, targets, state) -> (logits, loss, state)`, what
  training, evaluation and priming all call.

`config.attention` picks the attention: "vector" is textgenrnn's (a learned vector scores each
step); "query" (stream models only) lets the current step's query choose among the last `window`
steps, with a bias per offset (engine/attention.py). A query model in window mode reads each
window as a stream from a zero state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.attention import QueryAttention
from engine.config import ModelConfig

# textgenrnn's attention adds Keras' epsilon to the softmax denominator; window mode keeps it.
KERAS_EPSILON = 1e-7

RnnState = Any  # (h, c) for an LSTM layer, h for a GRU layer; batch is dim 1


@dataclass
class StreamState:
    """Everything stream-mode generation carries from one step to the next, for B rows."""

    rnn: list[RnnState]  # one per layer
    # The last W steps, oldest first. Vector attention: their feature vectors (B, W, D) and
    # attention scores (B, W). Query attention: their keys and values (B, W, 2A) and a mask
    # (B, W) of 0. Either way the scores are -inf where the window is not yet filled.
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


class CharRNN(nn.Module):
    """The writer's network; nanoGPT's contract plus the carried state:
    `forward(idx, targets, state) -> (logits, loss, state)`."""

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
        self.attention = nn.Linear(config.feature_size, 1, bias=False)
        # Only query models have it, so a vector model's tensors are what they always were.
        self.query: QueryAttention | None = None
        if config.attention == "query":
            self.query = QueryAttention(config.feature_size, config.attention_dim, config.window)
        self.output = nn.Linear(config.feature_size, config.vocab_size)

    # -- shared trunk ---------------------------------------------------------------------------

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

    # -- window mode: textgenrnn ----------------------------------------------------------------

    def forward_window(self, idx: Tensor) -> Tensor:
        """(B, T) windows -> (B, V) logits for the token after each window."""
        if self.query is not None:  # a query model reads the window as a stream
            pooled, _ = self._read(idx, None)  # (B, T, D)
            return self.output(pooled[:, -1])
        feats, _ = self.features(idx)  # (B, T, D)
        scores = self.attention(feats).squeeze(-1)  # (B, T)
        weights = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        weights = weights / (weights.sum(dim=-1, keepdim=True) + KERAS_EPSILON)
        pooled = torch.einsum("bt,btd->bd", weights, feats)  # (B, D)
        return self.output(pooled)

    # -- stream mode ----------------------------------------------------------------------------

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, state: StreamState | None = None
    ) -> tuple[Tensor, Tensor | None, StreamState]:
        """(B, T) -> (B, T, V) logits at every position, the mean loss if targets are given, and
        the state to read on from (RNN state and attention window).

        One contract for training, evaluation and priming: reading a text in chunks, each chunk
        given the state the previous one returned, gives the logits of one long forward.
        `state=None` starts from nothing. Targets equal to <pad> (index 0) are ignored, so
        batches of uneven documents can be padded; a chunk without targets has loss 0.
        """
        pooled, state = self._read(idx, state)  # (B, T, D)
        logits = self.output(pooled)  # (B, T, V)
        if targets is None:
            return logits, None, state
        counted = (targets != 0).sum().clamp(min=1)
        total = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=0,
            reduction="sum",
        )
        return logits, total / counted, state

    def _read(self, idx: Tensor, state: StreamState | None) -> tuple[Tensor, StreamState]:
        """(B, T) ids -> (B, T, D) attention-pooled features and the state after them.

        Position t attends over the steps (t - window, t]: the carried window, then this chunk."""
        feats, rnn_state = self.features(idx, None if state is None else state.rnn)  # (B, T, D)
        if self.query is not None:
            if state is None:
                memory, mask = self.query.empty(feats)  # (B, W, 2A), (B, W)
            else:
                memory, mask = state.features, state.scores
            pooled, memory, mask = self.query(feats, memory, mask)  # (B, T, D)
            return pooled, StreamState(rnn_state, memory, mask)
        scores = self.attention(feats).squeeze(-1)  # (B, T)
        if state is None:
            state = self._empty_window(feats)
        keys = torch.cat([state.features, feats], dim=1)  # (B, W + T, D)
        key_scores = torch.cat([state.scores, scores], dim=1)  # (B, W + T); -inf where unfilled
        window, carried = self.config.window, state.features.size(1)
        if window == 1:
            # A window of one step: its softmax weight is exactly 1, so skip the (T, T) band.
            pooled = feats
        else:
            length = feats.size(1)
            query = torch.arange(length, device=feats.device).unsqueeze(1) + carried  # (T, 1)
            offset = query - torch.arange(carried + length, device=feats.device)  # (T, W + T)
            band = (offset >= 0) & (offset < window)
            masked = key_scores.unsqueeze(1).masked_fill(~band, float("-inf"))  # (B, T, W + T)
            pooled = torch.softmax(masked, dim=-1) @ keys  # (B, T, D)
        return pooled, StreamState(rnn_state, keys[:, -window:], key_scores[:, -window:])

    def _empty_window(self, feats: Tensor) -> StreamState:
        """The attention window before the first step: no features, every score -inf."""
        batch, _, width = feats.shape
        window = self.config.window
        return StreamState(
            rnn=[],
            features=feats.new_zeros(batch, window, width),  # (B, W, D)
            scores=feats.new_full((batch, window), float("-inf")),  # (B, W)
        )

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
        logits and the state after it (engine/_cuda_decode.py computes the features itself)."""
        if self.query is not None:
            pooled, memory, mask = self.query.step(feat, state.features, state.scores)
            return self.output(pooled), StreamState(rnn_state, memory, mask)
        score = self.attention(feat)  # (B, 1)
        features = torch.cat([state.features[:, 1:], feat.unsqueeze(1)], dim=1)  # (B, W, D)
        scores = torch.cat([state.scores[:, 1:], score], dim=1)  # (B, W)
        weights = torch.softmax(scores, dim=-1)
        pooled = torch.einsum("bw,bwd->bd", weights, features)
        return self.output(pooled), StreamState(rnn_state, features, scores)

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
