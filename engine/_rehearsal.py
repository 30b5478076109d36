"""What keeps a fine-tune from forgetting what it started from: replay and an L2 anchor.

Replay mixes documents of older text (a slice of the base's own training text) into every epoch,
so the old distribution keeps being rehearsed. The anchor adds `strength * sum((w - w0)^2)` to
the loss, a spring toward the starting weights w0 that lets weights move only where the new text
pays for it (an isotropic cousin of EWC). Rows that vocabulary growth added have no w0 and move
freely.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from engine.data import Document

__all__ = ["Anchor", "epoch_documents"]


class Anchor:
    """The L2 pull toward a model's weights as they were when this object was made."""

    def __init__(self, model: nn.Module, strength: float) -> None:
        self.strength = strength
        self.start = {name: p.detach().clone() for name, p in model.named_parameters()}

    def penalty(self, model: nn.Module) -> Tensor:
        """strength * sum of squared differences over the rows the start had (a scalar)."""
        terms = []
        for name, param in model.named_parameters():
            start = self.start[name]
            # Grown vocabulary rows come last in the embedding and output tensors: skip them.
            current = param if param.shape == start.shape else param[: start.size(0)]
            terms.append((current - start).pow(2).sum())
        return self.strength * torch.stack(terms).sum()


def epoch_documents(
    train_docs: Sequence[Document],
    replay_docs: Sequence[Document],
    ratio: float,
    generator: torch.Generator,
) -> list[Document]:
    """One epoch's documents: all training documents and replay documents adding up to `ratio`
    times their characters (drawn without repeats until the replay text runs out), shuffled."""
    docs = list(train_docs)
    want = ratio * sum(len(d.text) for d in train_docs)
    if want > 0 and replay_docs:
        order: list[int] = []
        chars = 0
        while chars < want:
            if not order:
                order = torch.randperm(len(replay_docs), generator=generator).tolist()
            doc = replay_docs[order.pop()]
            docs.append(doc)
            chars += len(doc.text)
    shuffle = torch.randperm(len(docs), generator=generator).tolist()
    return [docs[i] for i in shuffle]
