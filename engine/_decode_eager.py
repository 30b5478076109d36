"""The ordinary decode loop: one model forward per step, finished rows dropped as it goes.

It knows nothing of prompts or ranking: it turns `Job`s (one per candidate row) into texts. The
step itself is `_decode_step.sample`; this loop feeds the sampled tokens back to the model
(`step` in stream mode, a shifted window in window mode) and every CHECK_EVERY steps drops the
rows that finished, so a batch gets cheaper as its candidates end.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine._decode_step import Decoded, Job, Rows, finish, sample, start
from engine.model import CharRNN
from engine.model_config import Mode
from engine.vocab import Vocab

__all__ = ["decode_eager"]

# Check for finished rows (a host sync) every this many steps.
CHECK_EVERY = 8


def decode_eager(model: CharRNN, vocab: Vocab, jobs: list[Job], mode: Mode) -> Decoded:
    """Each job's text (keyword included, trimmed), the mean log-probability of its sampled
    characters, and whether it is finished; jobs of one prompt must be adjacent."""
    rows, tables, width = start(model, vocab, jobs, mode)
    total, device = len(jobs), rows.logits.device
    tokens = torch.zeros(total, max(width, 1), dtype=torch.long, device=device)  # (J, S)
    logps = torch.zeros(total, max(width, 1), device=device)  # (J, S)
    kept = torch.zeros(total, dtype=torch.long, device=device)  # (J,)
    capped = torch.zeros(total, dtype=torch.bool, device=device)  # (J,)

    def flush(r: Rows, mask: Tensor) -> None:
        kept[r.rows[mask]] = r.kept[mask]
        capped[r.rows[mask]] = r.capped[mask]

    for t in range(width):
        if t % CHECK_EVERY == 0 and t > 0:
            n_done = int(rows.finished.sum())
            if n_done == len(rows.finished):
                break
            if 4 * n_done >= len(rows.finished):
                flush(rows, rows.finished)
                rows = rows.keep(~rows.finished)
        tok, logp = sample(rows, tables, t)  # (R,) each
        tokens[rows.rows, t] = tok
        logps[rows.rows, t] = logp
        if t + 1 < width:
            rows.logits = _advance(model, rows, tok)
    flush(rows, torch.ones_like(rows.finished))
    return finish(vocab, jobs, tokens.cpu(), logps.cpu(), kept.tolist(), capped.tolist())


def _advance(model: CharRNN, r: Rows, tok: Tensor) -> Tensor:
    """Feed the sampled tokens -> the next (R, V) logits."""
    if r.state is not None:
        logits, r.state = model.step(tok, r.state)
        return logits
    assert r.window is not None
    r.window = torch.cat([r.window[:, 1:], tok.unsqueeze(1)], dim=1)  # (R, L)
    return model(r.window, mode="window")[0]
