"""One training loop for new models and fine-tunes (nanoGPT's `init_from`: only the start differs).

new:        a fresh vocabulary from the training text and a fresh model (seeded)
`from_dir`: load a checkpoint, grow its vocabulary with the new text's characters, keep training
`resume`:   continue the run saved in `out_dir` (model, optimizer moments, position, curves)

Stream mode reads the text as contiguous tracks and carries the state (detached) from batch to
batch, as evaluation and generation carry it along a text; window mode trains textgenrnn's
one-target windows. Adam (momentum 0.9) with a learning rate that decays linearly to 0 over the
planned epochs, or over the time budget by elapsed time; gradient clipping; a checkpoint, the
validation loss and a sample at temperatures 0.2/0.5/1.0 after every epoch. Epoch e draws its
batches from a generator seeded by (seed, e), so the same seed and data give bit-identical
weights on the CPU, and a resumed run gives the weights of an uninterrupted one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from engine import checkpoint as ckpt
from engine.config import ModelConfig
from engine.data import (
    Document,
    as_documents,
    carry_state,
    encode,
    fingerprint,
    read_text_file,
    split_validation,
    track_batch_count,
    track_batches,
    window_batch_count,
    window_batches,
)
from engine.errors import CheckpointError, DataError, EngineError
from engine.evaluate import epoch_samples, evaluate
from engine.model import CharRNN, StreamState, pick_device
from engine.progress import Progress
from engine.vocab import Vocab

Mode = Literal["stream", "window"]
DEFAULT_EPOCHS = 10
# The attention span of a new model trained in stream mode. The attention score depends only on
# each step's own features, so with a carried state it cannot prefer the newest step: a wider
# span averages the current features with stale ones. Measured on textgenrnn's titles (6 epochs,
# same seed): span 1 -> 2.02 nats/char, 4 -> 2.60, 40 -> 3.24 (stalled). Window mode is unaffected.
STREAM_WINDOW = 1
# Rows per step: stream tracks of seq_len targets each (32 x 128 was the fastest and best in
# 200 s on the titles), or windows of one target each (textgenrnn's 128).
BATCH_SIZE = {"stream": 32, "window": 128}
# What `train --json` prints besides the folder.
SUMMARY = "val_nats_per_char val_bits_per_char epochs steps chars_seen seconds chars_per_second"
# Settings of a new model that TrainOptions.model may carry (the vocabulary size comes from data).
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "vocab_size")


@dataclass
class TrainOptions:
    """Everything a run needs besides its text; JSON-friendly so it is kept in metrics.json."""

    epochs: int | None = None  # DEFAULT_EPOCHS when there is no time budget either
    time_budget: float | None = None  # wall-clock seconds of training and per-epoch evaluation
    mode: Mode = "stream"
    seed: int = 0
    line_docs: bool = False
    val_fraction: float = 0.05
    batch_size: int | None = None  # BATCH_SIZE[mode] when None
    seq_len: int = 128
    lr: float = 4e-3
    clip: float = 1.0  # max gradient norm
    min_char_count: int = 1
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields of a new model
    device: str | None = None
    threads: int | None = None  # CPU threads for this run (torch's default when None)
    from_dir: str | None = None
    resume: bool = False
    samples: bool = True
    sample_chars: int = 120
    progress: bool = True
    log_every: int = 10  # steps per point of the training-loss curve
    # Stream mode: the chance per row and batch that the carried state is zeroed, so the model
    # also learns to start from nothing (as generation does).
    state_reset: float = 0.05


ProgressCallback = Callable[[dict[str, Any]], None]


def train(
    texts: Sequence[str | Document],
    out_dir: str | Path,
    options: TrainOptions | None = None,
    *,
    val_texts: Sequence[str | Document] | None = None,
    sources: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Train on strings (cut into documents per `options.line_docs`) or Documents; checkpoint
    to `out_dir` after every epoch; return the run's metrics (also in out_dir/metrics.json).

    `val_texts` fixes the held-out set (e.g. the same one for every fine-tune of a bot); without
    it `options.val_fraction` of the documents is held out by a seeded shuffle.
    """
    options = options or TrainOptions()
    threads = torch.get_num_threads()
    if options.threads:
        # One thread is much faster for tiny models and on a CPU shared with other work.
        torch.set_num_threads(options.threads)
    try:
        return _Run(options, Path(out_dir), on_progress).run(texts, val_texts, list(sources))
    finally:
        torch.set_num_threads(threads)


class _Run:
    state: StreamState | None = None  # stream mode: carried from batch to batch

    def __init__(
        self, options: TrainOptions, out: Path, on_progress: ProgressCallback | None
    ) -> None:
        if options.epochs is not None and options.time_budget is not None:
            raise EngineError("give either epochs or a time budget, not both")
        if options.epochs is None and options.time_budget is None:
            options = dataclasses.replace(options, epochs=DEFAULT_EPOCHS)
        self.batch_size = options.batch_size or BATCH_SIZE[options.mode]
        options = dataclasses.replace(options, batch_size=self.batch_size)
        self.opt = options
        self.out = out
        self.on_progress = on_progress
        self.device = torch.device(options.device) if options.device else pick_device()
        self.bar = Progress("train", enabled=options.progress)

    # -- setup ------------------------------------------------------------------------------------

    def run(
        self,
        texts: Sequence[str | Document],
        val_texts: Sequence[str | Document] | None,
        sources: list[str],
    ) -> dict[str, Any]:
        opt = self.opt
        torch.manual_seed(opt.seed)
        docs = as_documents(texts, opt.line_docs)
        if val_texts is None:
            train_docs, val_docs = split_validation(docs, opt.val_fraction, opt.seed)
        else:
            train_docs, val_docs = docs, as_documents(val_texts, opt.line_docs)
        if not train_docs:
            raise DataError("no training text")
        digest = fingerprint(train_docs, val_docs)
        model, vocab, metrics, resume = self._start(train_docs, sources, digest)
        if opt.mode == "stream" and model.config.rnn_bidirectional:
            raise EngineError("a bidirectional model can only be trained in window mode")
        stream = encode(train_docs, vocab)
        optimizer = torch.optim.Adam(model.parameters(), lr=opt.lr)
        if resume is not None:
            ckpt.load_optimizer_tensors(optimizer, resume.tensors)
        metrics.update(vocab_size=len(vocab), device=str(self.device), finished=False)
        metrics.update(options=dataclasses.asdict(opt), data_sha256=digest)
        metrics["documents"] = {"train": len(train_docs), "val": len(val_docs)}
        metrics["chars"] = {
            "train": stream.target_count,
            "val": sum(len(d.text) for d in val_docs),
        }
        return self._loop(model, vocab, optimizer, stream, val_docs, metrics)

    def _start(
        self, train_docs: list[Document], sources: list[str], digest: str
    ) -> tuple[CharRNN, Vocab, dict[str, Any], ckpt.ResumeState | None]:
        """Model, vocabulary, metrics to extend, and resume state, for each way to start."""
        opt, texts = self.opt, [d.text for d in train_docs]
        if opt.resume:
            loaded = ckpt.load(self.out, self.device)
            resume = ckpt.load_resume(self.out)
            if resume is None:
                raise CheckpointError(
                    f"{self.out}: no resume state ({ckpt.RESUME_INFO}) to resume"
                )
            if resume.info.get("data_sha256") != digest:
                raise DataError(
                    f"{self.out}: the text differs from the run being resumed "
                    "(same files, --line-docs, --val-fraction and --seed needed)"
                )
            loaded.model.train()
            return loaded.model, loaded.vocab, loaded.metrics, resume
        _check_out(self.out)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        base: dict[str, Any] = {"started": started, "seed": opt.seed, "mode": opt.mode}
        base.update(data_files=sources, history=[], train_loss=[], val_loss=[], samples=[])
        base.update(epochs=0, steps=0, chars_seen=0, seconds=0.0, train_seconds=0.0)
        base["from"] = opt.from_dir
        if opt.from_dir:
            loaded = ckpt.load(opt.from_dir, self.device)
            model, vocab = loaded.model, loaded.vocab
            new_chars = vocab.new_chars(texts, opt.min_char_count)
            vocab = vocab.grown(new_chars)
            model.grow_vocab(len(vocab))
            previous = dict(loaded.metrics)
            base["history"] = [
                *previous.pop("history", []),
                {k: v for k, v in previous.items() if k != "samples"},
            ]
            base["new_chars"] = new_chars
        else:
            vocab = Vocab.build(texts, opt.min_char_count)
            unknown = set(opt.model) - set(MODEL_FIELDS)
            if unknown:
                raise EngineError(f"unknown model settings {sorted(unknown)}")
            settings: dict[str, Any] = {"window": STREAM_WINDOW} if opt.mode == "stream" else {}
            settings.update(opt.model)
            model = CharRNN(ModelConfig(vocab_size=len(vocab), **settings)).to(self.device)
        model.train()
        return model, vocab, base, None

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(
        self,
        model: CharRNN,
        vocab: Vocab,
        optimizer: torch.optim.Optimizer,
        stream: Any,
        val_docs: list[Document],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        opt = self.opt
        epoch = int(metrics["epochs"])
        start_clock = time.monotonic() - float(metrics["seconds"])
        base_train_seconds = float(metrics["train_seconds"])
        run_chars, run_train_seconds = 0, 0.0  # this process only, for chars/s
        pending: list[float] = []
        finished = self._done(epoch, float(metrics["seconds"]))
        while not finished:
            torch.manual_seed(_epoch_seed(opt.seed, epoch))  # dropout
            generator = torch.Generator().manual_seed(_epoch_seed(opt.seed, epoch))
            batches, count = self._batches(stream, model, generator)
            self.state = None
            stopped = False
            for index, (x, y) in enumerate(batches):
                elapsed = time.monotonic() - start_clock
                for group in optimizer.param_groups:
                    group["lr"] = opt.lr * max(
                        0.0, 1.0 - self._fraction(epoch, index / count, elapsed)
                    )
                began = time.perf_counter()
                loss = self._step(
                    model, optimizer, x.to(self.device), y.to(self.device), generator
                )
                run_train_seconds += time.perf_counter() - began
                chars = int((y != 0).sum())
                run_chars += chars
                metrics["steps"] += 1
                metrics["chars_seen"] += chars
                pending.append(loss)
                if len(pending) >= opt.log_every:
                    self._log(metrics, pending)
                speed = run_chars / max(run_train_seconds, 1e-9)
                self._report(epoch, index / count, elapsed, loss, speed, metrics)
                if opt.time_budget is not None and elapsed >= opt.time_budget:
                    stopped = True
                    break
            if pending:
                self._log(metrics, pending)
            epoch += 1
            metrics["epochs"] = epoch
            metrics["train_seconds"] = base_train_seconds + run_train_seconds
            metrics["chars_per_second"] = run_chars / max(run_train_seconds, 1e-9)
            self._end_epoch(model, vocab, val_docs, metrics, epoch)
            metrics["seconds"] = time.monotonic() - start_clock
            finished = stopped or self._done(epoch, metrics["seconds"])
            self._save(model, vocab, optimizer, metrics, epoch, finished)
        self.bar.close()
        return metrics

    def _batches(
        self, stream: Any, model: CharRNN, generator: torch.Generator
    ) -> tuple[Iterator[tuple[Tensor, Tensor]], int]:
        opt = self.opt
        if opt.mode == "stream":
            return (
                track_batches(stream, self.batch_size, opt.seq_len, generator),
                track_batch_count(stream, self.batch_size, opt.seq_len),
            )
        return (
            window_batches(stream, self.batch_size, model.config.max_length, generator),
            window_batch_count(stream, self.batch_size),
        )

    def _step(
        self,
        model: CharRNN,
        optimizer: torch.optim.Optimizer,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
    ) -> float:
        """One optimizer step; stream: (B, T) -> (B, T) targets, window: (B, L) -> (B,)."""
        if self.opt.mode == "stream":
            state = carry_state(self.state, self.opt.state_reset, generator)
            _, loss, self.state = model(x, y, state)  # loss: mean over the (B, T) targets
            assert loss is not None
        else:
            loss = F.cross_entropy(model.forward_window(x), y, ignore_index=0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.opt.clip)
        optimizer.step()
        return float(loss.detach())

    def _done(self, epoch: int, elapsed: float) -> bool:
        if self.opt.time_budget is not None:
            return elapsed >= self.opt.time_budget
        return epoch >= (self.opt.epochs or 0)

    def _fraction(self, epoch: int, within: float, elapsed: float) -> float:
        """How far through the planned run we are, for the learning-rate decay."""
        if self.opt.time_budget is not None:
            return elapsed / self.opt.time_budget
        return (epoch + within) / max(1, self.opt.epochs or 1)

    def _log(self, metrics: dict[str, Any], pending: list[float]) -> None:
        mean = sum(pending) / len(pending)
        metrics["train_loss"].append([metrics["steps"], metrics["chars_seen"], round(mean, 5)])
        pending.clear()

    def _report(
        self,
        epoch: int,
        within: float,
        elapsed: float,
        loss: float,
        speed: float,
        metrics: dict[str, Any],
    ) -> None:
        opt = self.opt
        if opt.time_budget is not None:
            fraction, where = elapsed / opt.time_budget, f"{elapsed:.0f}/{opt.time_budget:.0f}s"
        else:
            fraction, where = self._fraction(epoch, within, elapsed), f"{opt.epochs}"
        self.bar.update(
            fraction, f"epoch {epoch + 1}/{where} loss {loss:.3f} {speed:,.0f} chars/s"
        )
        if self.on_progress is not None:
            event = {"epoch": epoch, "fraction": min(1.0, fraction), "loss": loss}
            self.on_progress({**event, "steps": metrics["steps"], "chars_per_second": speed})

    # -- end of epoch ---------------------------------------------------------------------------

    def _end_epoch(
        self,
        model: CharRNN,
        vocab: Vocab,
        val_docs: list[Document],
        metrics: dict[str, Any],
        epoch: int,
    ) -> None:
        val = ""
        if val_docs:
            result = evaluate(model, vocab, val_docs, self.opt.mode)
            metrics["val_loss"].append(
                {
                    "epoch": epoch,
                    "step": metrics["steps"],
                    "chars_seen": metrics["chars_seen"],
                    "nats_per_char": round(result["nats_per_char"], 5),
                }
            )
            metrics["val_nats_per_char"] = result["nats_per_char"]
            metrics["val_bits_per_char"] = result["bits_per_char"]
            val = f", val {result['nats_per_char']:.4f} nats/char"
        train_loss = metrics["train_loss"][-1][2] if metrics["train_loss"] else math.nan
        self.bar.note(
            f"epoch {epoch}: train {train_loss:.4f}{val}, "
            f"{metrics.get('chars_per_second', 0):,.0f} chars/s"
        )
        if self.opt.samples:
            settings = (self.opt.sample_chars, self.opt.seed, self.opt.mode)
            for sample in epoch_samples(model, vocab, *settings, note=self.bar.note):
                metrics["samples"].append({"epoch": epoch, **sample})

    def _save(
        self,
        model: CharRNN,
        vocab: Vocab,
        optimizer: torch.optim.Optimizer,
        metrics: dict[str, Any],
        epoch: int,
        finished: bool,
    ) -> None:
        metrics["finished"] = finished
        info = {"epoch": epoch, "data_sha256": metrics["data_sha256"], "seed": self.opt.seed}
        state = ckpt.ResumeState(ckpt.optimizer_tensors(optimizer), info)
        ckpt.save(ckpt.Checkpoint(model, vocab, metrics), self.out, resume=state)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 17) % (2**63)


def _check_out(out: Path) -> None:
    """Refuse to replace a folder that holds something other than a checkpoint (e.g. `--out .`)."""
    if out.exists() and any(out.iterdir()) and not (out / ckpt.CONFIG).exists():
        raise EngineError(f"{out}: exists and is not a checkpoint folder; not replacing it")


def main_train(args: argparse.Namespace) -> int:
    """`python -m engine train --text FILE... --out DIR [...]`."""
    model = {name: getattr(args, name) for name in MODEL_FIELDS if getattr(args, name) is not None}
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    options = TrainOptions(model=model, **{k: v for k, v in vars(args).items() if k in names})
    texts = [read_text_file(path) for path in args.text]
    metrics = train(texts, args.out, options, sources=[str(p) for p in args.text])
    summary = {"out": str(args.out), **{key: metrics.get(key) for key in SUMMARY.split()}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"saved {args.out}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0
