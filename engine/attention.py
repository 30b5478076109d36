"""Stream-mode attention with a query: the current step asks which of the last `window` steps
to read.

textgenrnn's attention scores each step with one learned vector, whatever the step reading it:
over a carried state it cannot prefer the newest step, so new stream models used a window of
one (the pooled features are the step's own). Here the step's features give a query, each of
the last `window` steps (itself included) a key and a value, and a learned bias per offset
(0 = this step) lets it prefer recent steps:

    q, k, v = W_qkv f                                   f: (D,) -> (A,), (A,), (A,)
    a_t     = softmax_s(q_t . k_s / sqrt(A) + b[t - s])  over s in (t - window, t]
    pooled  = f_t + W_out sum_s a_t,s v_s                (D,), what the output layer reads

W_out starts at zero, so a new model starts as the window-one LSTM and the attention only adds
what training finds useful. The memory carried from step to step is the last `window` keys and
values (B, W, 2A) with an additive mask (B, W): 0 where a step was read, -inf before the text
started. A generation step costs O(window).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["QueryAttention"]


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
        """The memory before the first step: (B, W, 2A) zeros and a (B, W) mask of -inf."""
        batch = feats.size(0)
        memory = feats.new_zeros(batch, self.window, 2 * self.dim)
        return memory, feats.new_full((batch, self.window), float("-inf"))

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
        # Offset of key s from query t; only 0 <= offset < window is read.
        at = torch.arange(length, device=feats.device).unsqueeze(1) + window  # (T, 1)
        offset = at - torch.arange(window + length, device=feats.device)  # (T, W + T)
        band = (offset >= 0) & (offset < window)
        bias = self.position[offset.clamp(0, window - 1)].masked_fill(~band, float("-inf"))
        scores = query @ keys.transpose(1, 2) / math.sqrt(dim)  # (B, T, W + T)
        scores = scores + bias + kv_mask.unsqueeze(1)
        read = torch.softmax(scores, dim=-1) @ values  # (B, T, A)
        return feats + self.out(read), kv[:, -window:], kv_mask[:, -window:]

    def step(self, feat: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step per row: (B, D) features -> (B, D) pooled, and the memory shifted by one.
        `forward` on a (B, 1, D) chunk computes the same with more bookkeeping."""
        dim = self.dim
        projected = self.qkv(feat)  # (B, 3A)
        kv = torch.cat([memory[:, 1:], projected[:, None, dim:]], dim=1)  # (B, W, 2A)
        mask = torch.cat([mask[:, 1:], mask.new_zeros(mask.size(0), 1)], dim=1)  # (B, W)
        # Slots run oldest first, so slot j is offset W - 1 - j.
        scores = torch.einsum("ba,bwa->bw", projected[:, :dim], kv[..., :dim]) / math.sqrt(dim)
        weights = torch.softmax(scores + self.position.flip(0) + mask, dim=-1)  # (B, W)
        read = torch.einsum("bw,bwa->ba", weights, kv[..., dim:])  # (B, A)
        return feat + self.out(read), kv, mask
