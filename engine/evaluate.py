"""How good a model is: held-out loss in nats (and bits) per character, and samples to read.

Stream mode reads each document from its start, carrying the RNN state and the attention window
from chunk to chunk, so a document costs one pass however long it is. Window mode is textgenrnn's
measure: every character is predicted from the `max_length` tokens before it, from a zero state.
A closed document (one line with --line-docs) also counts its end, as textgenrnn counts its end
token (the newline of the file), so figures compare with textgenrnn's.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from engine.data import Document, as_documents, encode, read_text_file, target_positions, windows
from engine.errors import DataError
from engine.generate import Prompt, SampleSettings, generate
from engine.model import CharRNN, StreamState, pick_device
from engine.model_config import Mode
from engine.vocab import Vocab, normalize

# Stream mode: documents per batch and time steps per chunk; window mode: windows per batch.
STREAM_BATCH = 64
STREAM_CHUNK = 256
WINDOW_BATCH = 1024
SAMPLE_TEMPERATURES = (0.2, 0.5, 1.0)


def evaluate(
    model: CharRNN,
    vocab: Vocab,
    texts: Sequence[str | Document],
    mode: Mode = "stream",
    line_docs: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """{"nats_per_char", "bits_per_char", "chars"} of the model on the texts.

    Strings are cut into documents as training cuts them (`line_docs`); Documents are used as is.
    `progress` is called with the fraction done after every batch, for a heartbeat. A jamo
    vocabulary's loss is per *original* character (a syllable's jamo summed), so it compares
    with a syllable vocabulary's; "tokens" says how many jamo and other characters were read.
    """
    docs = as_documents(texts, line_docs)
    if not docs:
        raise DataError("no text to evaluate on")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            measure = _stream_nll if mode == "stream" else _window_nll
            nll, count = measure(model, vocab, docs, progress or _quiet)
    finally:
        model.train(was_training)
    if count == 0:
        raise DataError("no characters to evaluate (all unknown to the vocabulary?)")
    chars = round(count * _chars_per_token(vocab, docs)) if vocab.jamo else count
    nats = nll / chars
    return {
        "nats_per_char": nats,
        "bits_per_char": nats / math.log(2),
        "chars": chars,
        **({"tokens": count} if vocab.jamo else {}),
    }


def _chars_per_token(vocab: Vocab, docs: list[Document]) -> float:
    """Original characters per token of these documents (a closed document's end is one of
    each); below 1 where Hangul is read as jamo."""
    ends = sum(doc.closed for doc in docs)
    chars = sum(len(normalize(doc.text)) for doc in docs) + ends
    tokens = sum(len(vocab.split(doc.text)) for doc in docs) + ends
    return chars / max(tokens, 1)


def _quiet(fraction: float) -> None:
    """No progress to report."""


def _device(model: CharRNN) -> torch.device:
    return next(model.parameters()).device


def _stream_nll(
    model: CharRNN, vocab: Vocab, docs: list[Document], progress: Callable[[float], None]
) -> tuple[float, int]:
    """Documents of similar length batched together, right-padded (padding is never a target)."""
    device = _device(model)
    rows: list[tuple[list[int], list[int]]] = []
    for doc in docs:
        ids = vocab.encode(doc.text)
        if ids:
            end = vocab.start_index if doc.closed else 0
            rows.append(([vocab.start_index, *ids], [*ids, end]))
    rows.sort(key=lambda r: len(r[0]), reverse=True)
    total, count = 0.0, 0
    for first in range(0, len(rows), STREAM_BATCH):
        batch = rows[first : first + STREAM_BATCH]
        length = len(batch[0][0])
        x = torch.zeros(len(batch), length, dtype=torch.long)  # (B, L)
        y = torch.zeros(len(batch), length, dtype=torch.long)  # (B, L)
        for i, (inputs, targets) in enumerate(batch):
            x[i, : len(inputs)] = torch.tensor(inputs)
            y[i, : len(targets)] = torch.tensor(targets)
        x, y = x.to(device), y.to(device)
        state: StreamState | None = None
        for begin in range(0, length, STREAM_CHUNK):
            chunk_y = y[:, begin : begin + STREAM_CHUNK]  # (B, C)
            _, loss, state = model(x[:, begin : begin + STREAM_CHUNK], chunk_y, state)
            total, count = _add(total, count, loss, chunk_y)
            progress(min(1.0, (first + len(batch) * (begin + STREAM_CHUNK) / length) / len(rows)))
    return total, count


def _window_nll(
    model: CharRNN, vocab: Vocab, docs: list[Document], progress: Callable[[float], None]
) -> tuple[float, int]:
    device = _device(model)
    stream = encode(docs, vocab)
    positions = target_positions(stream)
    total, count = 0.0, 0
    for first in range(0, positions.numel(), WINDOW_BATCH):
        chunk = positions[first : first + WINDOW_BATCH]
        x = windows(stream, chunk, model.config.max_length).to(device)  # (B, L)
        y = stream.targets[chunk].long().to(device)  # (B,)
        _, loss, _ = model(x, y, mode="window")
        total, count = _add(total, count, loss, y)
        progress(min(1.0, (first + WINDOW_BATCH) / positions.numel()))
    return total, count


def _add(total: float, count: int, loss: Tensor | None, targets: Tensor) -> tuple[float, int]:
    """The running sum and count of losses, plus a batch's: its mean loss over the targets that
    are not <pad>, as a sum."""
    assert loss is not None
    counted = int((targets != 0).sum())
    return total + float(loss) * counted, count + counted


def epoch_samples(
    model: CharRNN,
    vocab: Vocab,
    max_chars: int,
    seed: int,
    mode: Mode,
    note: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """One sample per temperature in SAMPLE_TEMPERATURES from an empty prompt, for a trainer to
    show after each epoch."""
    settings = SampleSettings(max_chars=max_chars, temperatures=SAMPLE_TEMPERATURES)
    prompt = Prompt(n=len(SAMPLE_TEMPERATURES), seed=seed, settings=settings)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            found = generate(model, vocab, [prompt], mode=mode)
    finally:
        model.train(was_training)
    for sample in found[0]:
        note(f"  [{sample.temperature}] {sample.text!r}")
    return [{"temperature": s.temperature, "text": s.text} for s in found[0]]


def main_eval(args: argparse.Namespace) -> int:
    """`python -m engine eval --model DIR --text-file F [--mode stream|window] [--json]`."""
    from engine.checkpoint import load

    device = torch.device(args.device) if args.device else pick_device()
    checkpoint = load(args.model, device, args.quantize)
    text = read_text_file(args.text_file)
    result = evaluate(checkpoint.model, checkpoint.vocab, [text], args.mode, args.line_docs)
    result["mode"] = args.mode
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char "
            f"over {result['chars']} characters ({args.mode} mode)"
        )
    return 0
