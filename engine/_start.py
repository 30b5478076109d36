"""Where a training run starts (nanoGPT's `init_from`): a new model, a checkpoint, or a resume.

new:        a fresh vocabulary from the training text and a fresh model (seeded by the caller)
`from_dir`: load a checkpoint, grow its vocabulary with the new text's characters, keep training;
            with an anchor, remember its weights (or `anchor_dir`'s; before growth) to pull
            toward
`resume`:   the run saved in the output folder (model, optimizer moments, position, curves)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from engine import checkpoint as ckpt
from engine._rehearsal import Anchor
from engine.data import Document
from engine.errors import CheckpointError, DataError, EngineError
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.train_options import MODEL_FIELDS, STREAM_ATTENTION, STREAM_SETTINGS, TrainOptions
from engine.vocab import Vocab

__all__ = ["Start", "init_from"]

# Model, vocabulary, metrics to extend, resume state, anchor.
Start = tuple[CharRNN, Vocab, dict[str, Any], ckpt.ResumeState | None, Anchor | None]


def init_from(
    opt: TrainOptions,
    out: Path,
    device: torch.device,
    train_docs: list[Document],
    sources: list[str],
    digest: str,
) -> Start:
    """The model and everything else a run starts with, for each way to start."""
    texts = [d.text for d in train_docs]
    anchor = None
    if opt.from_dir and opt.anchor > 0:
        anchor = Anchor(ckpt.load(opt.anchor_dir or opt.from_dir, device).model, opt.anchor)
    if opt.resume:
        loaded = ckpt.load(out, device)
        resume = ckpt.load_resume(out)
        if resume is None:
            raise CheckpointError(f"{out}: no resume state ({ckpt.RESUME_INFO}) to resume")
        if resume.info.get("data_sha256") != digest:
            raise DataError(
                f"{out}: the text differs from the run being resumed "
                "(same files, --line-docs, --val-fraction and --seed needed)"
            )
        loaded.model.train()
        return loaded.model, loaded.vocab, loaded.metrics, resume, anchor
    check_out(out)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    base: dict[str, Any] = {"started": started, "seed": opt.seed, "mode": opt.mode}
    base.update(data_files=sources, history=[], train_loss=[], val_loss=[], samples=[])
    base.update(epochs=0, steps=0, chars_seen=0, seconds=0.0, train_seconds=0.0)
    base["from"] = opt.from_dir
    if opt.from_dir:
        loaded = ckpt.load(opt.from_dir, device)
        model, vocab = loaded.model, loaded.vocab
        new_chars = vocab.new_chars(texts, opt.min_char_count)
        vocab = vocab.grown(new_chars)
        # New characters start as the parent read them, as <unk> (when it has a real one).
        unk = vocab.unk_index if vocab.unk_index != vocab.pad_index else None
        model.grow_vocab(len(vocab), like=unk)
        previous = dict(loaded.metrics)
        base["history"] = [
            *previous.pop("history", []),
            {k: v for k, v in previous.items() if k != "samples"},
        ]
        base["new_chars"] = new_chars
    else:
        vocab = Vocab.build(texts, opt.min_char_count, jamo=opt.hangul == "jamo")
        unknown = set(opt.model) - set(MODEL_FIELDS)
        if unknown:
            raise EngineError(f"unknown model settings {sorted(unknown)}")
        settings: dict[str, Any] = {}
        if opt.mode == "stream":  # the span that suits the attention, unless given
            attention = opt.model.get("attention", STREAM_ATTENTION)
            settings = {"attention": attention, **STREAM_SETTINGS.get(attention, {})}
        settings.update(opt.model)
        model = CharRNN(ModelConfig(vocab_size=len(vocab), **settings)).to(device)
    model.train()
    return model, vocab, base, None, anchor


def check_out(out: Path) -> None:
    """Refuse to replace a folder that holds something other than a checkpoint (e.g. `--out .`)."""
    if out.exists() and any(out.iterdir()) and not (out / ckpt.CONFIG).exists():
        raise EngineError(f"{out}: exists and is not a checkpoint folder; not replacing it")
