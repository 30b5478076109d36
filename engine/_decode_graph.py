"""The decode loop on CUDA: one generation step captured in a CUDA graph and replayed.

On a GPU a step of this small model is some hundred tiny kernels, and launching them from Python
costs ~1.5 ms a step whatever the batch (an H200 wrote 1 prompt x 3 x 300 chars at ~2,000
chars/s, slower than 2 CPU cores). Step 0 runs eagerly as the warm-up, then the step is captured
once per call (a capture costs about one eager step; a call runs up to hundreds), and every
later step is one graph replay. For that every tensor the step reads or writes stays at one
address, the batch is padded to a bucket (a multiple of 8 rows), the step counter is a device
tensor, and nothing in a step asks the host:

* the RNN step runs `torch.lstm_cell` / `torch.gru_cell` on the layers' own weights (the maths of
  `CharRNN.step`, in kernels a graph can hold), then the model's own `attend_step`;
* sampling is `_decode_step.sample`, the eager loop's own step: every row's uniforms were drawn
  up front from its own seeded generator, so per-candidate seeding is exact;
* finished rows are not dropped (that would change shapes): they run on and are ignored; the host
  looks every CHECK_EVERY steps whether all rows are done.

`decode_graph(..., capture=False)` runs the very same step eagerly: the CPU tests compare it
with `decode_eager` text for text, so only the capture itself needs a GPU to be checked.
Weights stay float32 (bf16 would change the texts the tests pin).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor

from engine._decode_step import Decoded, Job, finish, sample, start
from engine.model import CharRNN, RnnState, StreamState
from engine.vocab import Vocab

__all__ = ["bucket", "cell_step", "decode_graph"]

# Look whether every row is done (a host sync) every this many steps.
CHECK_EVERY = 32
# What `update_stop` replaces rather than updates in place.
STOP_FIELDS = ("pending", "word", "written", "last", "finished", "kept", "capped")


def bucket(rows: int) -> int:
    """The padded batch size: a multiple of 8 (shapes the GPU's matrix units like)."""
    return -(-rows // 8) * 8


def cell_step(model: CharRNN, idx: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
    """`model.step` with RNN cells: (B,) ids -> (B, V) logits and the next state."""
    x = model.embedding(idx)  # (B, E)
    parts, rnn_state = [x], []
    for rnn, layer in zip(model.rnns, state.rnn, strict=True):
        weights = [getattr(rnn, f"{name}_l0") for name in ("weight_ih", "weight_hh")]
        biases = [getattr(rnn, f"{name}_l0") for name in ("bias_ih", "bias_hh")]
        new: RnnState
        if isinstance(layer, tuple):  # LSTM: (h, c), each (1, B, H)
            h, c = torch.lstm_cell(x, (layer[0][0], layer[1][0]), *weights, *biases)
            new = (h.unsqueeze(0), c.unsqueeze(0))
        else:  # GRU: h (1, B, H)
            h = torch.gru_cell(x, layer[0], *weights, *biases)
            new = h.unsqueeze(0)
        x = h  # (B, H)
        parts.append(h)
        rnn_state.append(new)
    return model.attend_step(torch.cat(parts, dim=-1), rnn_state, state)  # features (B, D)


def _copy_state(into: StreamState, src: StreamState) -> None:
    for old, new in zip(into.rnn, src.rnn, strict=True):
        for a, b in zip(
            *((old, new) if isinstance(old, tuple) else ((old,), (new,))), strict=True
        ):
            a.copy_(b)
    into.features.copy_(src.features)
    into.scores.copy_(src.scores)


def decode_graph(model: CharRNN, vocab: Vocab, jobs: list[Job], capture: bool) -> Decoded:
    """`decode_eager` in stream mode with fixed shapes; `capture` replays a CUDA graph."""
    real = len(jobs)
    padded = jobs + [jobs[-1]] * (bucket(real) - real)  # extra rows repeat the last job
    rows, tables, width = start(model, vocab, padded, "stream")
    live = rows.state  # the state buffers the graph reads and writes
    assert live is not None
    total, device = len(padded), rows.logits.device
    tokens = torch.zeros(total, max(width, 1), dtype=torch.long, device=device)  # (R, S)
    logps = torch.zeros(total, max(width, 1), device=device)  # (R, S)
    t = torch.zeros(1, dtype=torch.long, device=device)  # the step, on the device

    def step() -> None:
        column = t.expand(total).unsqueeze(1)  # (R, 1): this step's column
        after = copy.copy(rows)  # `sample` rebinds the stop fields; copied back below
        tok, logp = sample(after, tables, t)  # (R,) each
        tokens.scatter_(1, column, tok.unsqueeze(1))
        logps.scatter_(1, column, logp.unsqueeze(1))
        logits, new_state = cell_step(model, tok, live)
        for name in STOP_FIELDS:
            getattr(rows, name).copy_(getattr(after, name))
        rows.logits.copy_(logits)
        _copy_state(live, new_state)
        t.add_(1)

    run = step
    for host_t in range(width):
        if host_t % CHECK_EVERY == 0 and host_t > 0 and bool(rows.finished.all()):
            break
        if capture and host_t == 0 and width > 1:
            run = _captured(step)  # runs step 0 as the warm-up, then records the step
        else:
            run()
    return finish(
        vocab,
        jobs,
        tokens[:real].cpu(),
        logps[:real].cpu(),
        rows.kept[:real].tolist(),
        rows.capped[:real].tolist(),
    )


def _captured(step: Callable[[], None]) -> Callable[[], None]:
    """Run `step` once eagerly (the warm-up), then record it in a CUDA graph; returns the replay.

    Both happen on one side stream: BLAS libraries create their handles and workspaces lazily,
    per stream, and creating one while a stream is being captured fails the capture (PyTorch's
    own make_graphed_callables warms up on its capture stream for this reason). Capture errors
    are "thread_local": the worker's stdin reader thread must not invalidate a capture.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        step()  # step 0, for real
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
        step()  # recorded, not run
    return graph.replay
