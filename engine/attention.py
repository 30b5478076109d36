"""The two attentions of the writer, each over the last `window` steps ending at a position.

vector (textgenrnn's): one learned vector scores each step, whatever step is reading; the pooled
features are the softmax-weighted average of the steps in the window. Over a carried state it
cannot prefer the newest step, so new stream models use a window of one (the pooled features
are the step's own). The vector itself is the model's `attention` layer, a plain Linear(D, 1):
checkpoints and int8 quantisation see it as they always did; `VectorAttention` pools by its
scores.

query: the step's features give a query, each of the last `window` steps (itself included) a
key and a value, and a learned bias per offset (0 = this step) lets it prefer recent steps:

    q, k, v = W_qkv f                                   f: (D,) -> (A,), (A,), (A,)
    a_t     = softmax_s(q_t . k_s / sqrt(A) + b[t - s])  over s in (t - window, t]
    pooled  = f_t + W_out sum_s a_t,s v_s                (D,), what the output layer reads

W_out starts at zero, so a new query model starts as the window-one model and the attention only
adds what training finds useful.

Both carry a memory of the last `window` steps from chunk to chunk and step to step (vector:
features (B, W, D) and scores (B, W); query: keys and values (B, W, 2A) and a mask (B, W) of 0),
-inf where a step comes before the text started. `forward` reads a chunk, `step` one position in
O(window); `forward` on a one-step chunk computes what `step` does, with more bookkeeping.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["KERAS_EPSILON", "QueryAttention", "VectorAttention"]

# textgenrnn's attention adds Keras' epsilon to the softmax denominator; window mode keeps it.
KERAS_EPSILON = 1e-7


def weighted_average(scores: Tensor, values: Tensor, epsilon: float = 0.0) -> Tensor:
    """(B, Q, K) scores, -inf where a key is not read, and (B, K, X) values -> (B, Q, X): the
    softmax-weighted average. `epsilon` is added to the softmax denominator (textgenrnn's)."""
    if epsilon:
        weights = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        weights = weights / (weights.sum(dim=-1, keepdim=True) + epsilon)
    else:
        weights = torch.softmax(scores, dim=-1)
    return weights @ values


def offsets(length: int, window: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """For a chunk of `length` positions after `window` carried steps: (T, W + T) offset of key s
    from query t, and the band (T, W + T) of keys each query reads (0 <= offset < window)."""
    query = torch.arange(length, device=device).unsqueeze(1) + window  # (T, 1)
    offset = query - torch.arange(window + length, device=device)  # (T, W + T)
    return offset, (offset >= 0) & (offset < window)


def empty_memory(feats: Tensor, window: int, width: int) -> tuple[Tensor, Tensor]:
    """The memory before the first step: (B, W, width) zeros and (B, W) -inf (nothing read)."""
    batch = feats.size(0)
    return feats.new_zeros(batch, window, width), feats.new_full((batch, window), float("-inf"))


class VectorAttention(nn.Module):
    """textgenrnn's attention, pooled by the scores of the model's learned vector (no weights
    of its own)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window

    def empty(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """(B, W, D) features and (B, W) scores before the first step."""
        return empty_memory(feats, self.window, feats.size(-1))

    def forward(
        self, feats: Tensor, scores: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, D) features of a chunk and their (B, T) scores, and the memory before it ->
        (B, T, D) pooled features and the memory after it."""
        window = self.window
        keys = torch.cat([memory, feats], dim=1)  # (B, W + T, D)
        key_scores = torch.cat([mask, scores], dim=1)  # (B, W + T); -inf where unfilled
        if window == 1:
            # A window of one step: its softmax weight is exactly 1, so skip the (T, T) band.
            pooled = feats
        else:
            _, band = offsets(feats.size(1), window, feats.device)
            masked = key_scores.unsqueeze(1).masked_fill(~band, float("-inf"))  # (B, T, W + T)
            pooled = weighted_average(masked, keys)  # (B, T, D)
        return pooled, keys[:, -window:], key_scores[:, -window:]

    def step(
        self, feat: Tensor, score: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, D) features of one step and their (B, 1) score -> (B, D) pooled, and the memory
        shifted by one."""
        memory = torch.cat([memory[:, 1:], feat.unsqueeze(1)], dim=1)  # (B, W, D)
        mask = torch.cat([mask[:, 1:], score], dim=1)  # (B, W)
        return weighted_average(mask.unsqueeze(1), memory).squeeze(1), memory, mask

    def whole(self, feats: Tensor, scores: Tensor) -> Tensor:
        """textgenrnn's window mode: (B, L) windows' features (B, L, D) and scores (B, L) -> the
        (B, D) pooled features of the whole window, with Keras' epsilon."""
        pooled = weighted_average(scores.unsqueeze(1), feats, KERAS_EPSILON)  # (B, 1, D)
        return pooled.squeeze(1)


class QueryAttention(nn.Module):
    """Attention over the last `window` steps with the current step's query (stream mode)."""

    def __init__(self, feature_size: int, dim: int, window: int) -> None:
        super().__init__()
        self.dim, self.window = dim, window
        self.qkv = nn.Linear(feature_size, 3 * dim, bias=False)
        self.out = nn.Linear(dim, feature_size, bias=False)
        nn.init.zeros_(self.out.weight)  # start as the window-one model: pooled = features
        self.position = nn.Parameter(torch.zeros(window))  # bias by offset; 0 = this step

    def empty(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """(B, W, 2A) keys and values and a (B, W) mask before the first step."""
        return empty_memory(feats, self.window, 2 * self.dim)

    def forward(
        self, feats: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, D) features of a chunk and the memory before it -> (B, T, D) pooled features
        and the memory after it. Position t reads the steps (t - window, t]."""
        length, window, dim = feats.size(1), self.window, self.dim
        projected = self.qkv(feats)  # (B, T, 3A)
        query, fresh = projected[..., :dim], projected[..., dim:]  # (B, T, A), (B, T, 2A)
        kv = torch.cat([memory, fresh], dim=1)  # (B, W + T, 2A): carried steps, then this chunk
        kv_mask = torch.cat([mask, mask.new_zeros(mask.size(0), length)], dim=1)  # (B, W + T)
        keys, values = kv[..., :dim], kv[..., dim:]  # (B, W + T, A) each
        offset, band = offsets(length, window, feats.device)
        bias = self.position[offset.clamp(0, window - 1)].masked_fill(~band, float("-inf"))
        scores = query @ keys.transpose(1, 2) / math.sqrt(dim)  # (B, T, W + T)
        scores = scores + bias + kv_mask.unsqueeze(1)
        read = weighted_average(scores, values)  # (B, T, A)
        return feats + self.out(read), kv[:, -window:], kv_mask[:, -window:]

    def step(self, feat: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step per row: (B, D) features -> (B, D) pooled, and the memory shifted by one."""
        dim = self.dim
        projected = self.qkv(feat)  # (B, 3A)
        kv = torch.cat([memory[:, 1:], projected[:, None, dim:]], dim=1)  # (B, W, 2A)
        mask = torch.cat([mask[:, 1:], mask.new_zeros(mask.size(0), 1)], dim=1)  # (B, W)
        # Slots run oldest first, so slot j is offset W - 1 - j.
        scores = torch.einsum("ba,bwa->bw", projected[:, :dim], kv[..., :dim]) / math.sqrt(dim)
        scores = scores + self.position.flip(0) + mask  # (B, W)
        read = weighted_average(scores.unsqueeze(1), kv[..., dim:]).squeeze(1)  # (B, A)
        return feat + self.out(read), kv, mask
