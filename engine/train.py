"""One training loop for new models and fine-tunes (nanoGPT's `init_from`: only the start differs).

new:        a fresh vocabulary from the training text and a fresh model (seeded)
`from_dir`: load a checkpoint, grow its vocabulary with the new text's characters, keep training
`resume`:   continue the run saved in `out_dir` (model, optimizer moments, position, curves)
(see _start.py).

Stream mode reads the text as contiguous tracks and carries the state (detached) from batch to
batch, as evaluation and generation carry it along a text; window mode trains textgenrnn's
one-target windows. Adam (momentum 0.9; AdamW's decoupled weight decay when asked) with a
learning rate that decays linearly to 0 over the planned epochs, or over the time budget by
elapsed time; gradient clipping; a checkpoint, the validation loss and a sample at temperatures
0.2/0.5/1.0 after every epoch. Epoch e draws its batches from a generator seeded by (seed, e),
so the same seed and data give bit-identical weights on the CPU, and a resumed run gives the
weights of an uninterrupted one.

A fine-tune adds what keeps it from forgetting (see train_options.py): replay documents mixed
into every epoch, an L2 anchor to the starting weights, and evaluation points that keep the best
state within limits on other texts, with early stopping.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine import checkpoint as ckpt
from engine._rehearsal import Anchor, epoch_documents
from engine._selection import VAL, Selector
from engine._start import init_from
from engine.data import (
    Document,
    TokenStream,
    as_documents,
    carry_state,
    encode,
    fingerprint,
    split_validation,
    track_batch_count,
    track_batches,
    window_batch_count,
    window_batches,
)
from engine.errors import DataError, EngineError
from engine.evaluate import epoch_samples, evaluate
from engine.model import CharRNN, StreamState, has_fast_bfloat16, pick_device
from engine.progress import Progress
from engine.train_options import (
    BATCH_SIZE,
    DEFAULT_EPOCHS,
    PRECISIONS,
    ProgressCallback,
    TrainOptions,
)
from engine.vocab import Vocab

__all__ = ["ProgressCallback", "TrainOptions", "train"]


def train(
    texts: Sequence[str | Document],
    out_dir: str | Path,
    options: TrainOptions | None = None,
    *,
    val_texts: Sequence[str | Document] | None = None,
    sources: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
    replay: Sequence[str | Document] = (),
    extra_evals: dict[str, Sequence[str | Document]] | None = None,
) -> dict[str, Any]:
    """Train on strings (cut into documents per `options.line_docs`) or Documents; checkpoint
    to `out_dir` after every epoch; return the run's metrics (also in out_dir/metrics.json).

    `val_texts` fixes the held-out set (e.g. the same one for every fine-tune of a bot); without
    it `options.val_fraction` of the documents is held out by a seeded shuffle. `replay` is the
    older text `options.replay_ratio` draws from; `extra_evals` are texts measured at every
    evaluation point besides the validation set (named, e.g. {"base": ...}).
    """
    options = options or TrainOptions()
    threads = torch.get_num_threads()
    if options.threads:
        # One thread is much faster for tiny models and on a CPU shared with other work.
        torch.set_num_threads(options.threads)
    try:
        run = _Run(options, Path(out_dir), on_progress)
        docs = {
            name: as_documents(t, options.line_docs) for name, t in (extra_evals or {}).items()
        }
        replay_docs = as_documents(replay, options.line_docs)
        return run.run(texts, val_texts, list(sources), replay_docs, docs)
    finally:
        torch.set_num_threads(threads)


class _Run:
    state: StreamState | None = None  # stream mode: carried from batch to batch
    anchor: Anchor | None = None  # the L2 pull toward the starting weights

    def __init__(
        self, options: TrainOptions, out: Path, on_progress: ProgressCallback | None
    ) -> None:
        if options.epochs is not None and options.time_budget is not None:
            raise EngineError("give either epochs or a time budget, not both")
        if not 0 < options.decay <= 1:
            raise EngineError(f"decay is a fraction of the run in (0, 1], not {options.decay}")
        if options.precision not in PRECISIONS:
            raise EngineError(f"precision must be one of {PRECISIONS}, not {options.precision!r}")
        if options.epochs is None and options.time_budget is None:
            options = dataclasses.replace(options, epochs=DEFAULT_EPOCHS)
        self.batch_size = options.batch_size or BATCH_SIZE[options.mode]
        options = dataclasses.replace(options, batch_size=self.batch_size)
        self.device = torch.device(options.device) if options.device else pick_device()
        if options.precision == "auto":  # what was used is what metrics.json keeps
            fast = has_fast_bfloat16(self.device)
            options = dataclasses.replace(options, precision="bfloat16" if fast else "float32")
        self.opt = options
        self.out = out
        self.on_progress = on_progress
        self.bar = Progress("train", enabled=options.progress)

    # -- setup ------------------------------------------------------------------------------------

    def run(
        self,
        texts: Sequence[str | Document],
        val_texts: Sequence[str | Document] | None,
        sources: list[str],
        replay_docs: list[Document],
        extra_evals: dict[str, list[Document]],
    ) -> dict[str, Any]:
        opt = self.opt
        torch.manual_seed(opt.seed)
        docs = as_documents(texts, opt.line_docs)
        if val_texts is None:
            split_seed = opt.seed if opt.split_seed is None else opt.split_seed
            train_docs, val_docs = split_validation(docs, opt.val_fraction, split_seed)
        else:
            train_docs, val_docs = docs, as_documents(val_texts, opt.line_docs)
        if not train_docs:
            raise DataError("no training text")
        digest = fingerprint(train_docs, val_docs)
        started = init_from(opt, self.out, self.device, train_docs, sources, digest)
        model, vocab, metrics, resume, self.anchor = started
        if opt.mode == "stream" and model.config.rnn_bidirectional:
            raise EngineError("a bidirectional model can only be trained in window mode")
        stream = encode(train_docs, vocab)
        optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
        if resume is not None:
            ckpt.load_optimizer_tensors(optimizer, resume.tensors)
        metrics.update(vocab_size=len(vocab), device=str(self.device), finished=False)
        metrics.update(options=dataclasses.asdict(opt), data_sha256=digest)
        metrics["documents"] = {"train": len(train_docs), "val": len(val_docs)}
        metrics["chars"] = {
            "train": stream.target_count,
            "val": sum(len(d.text) for d in val_docs),
            **({"replay": sum(len(d.text) for d in replay_docs)} if opt.replay_ratio else {}),
        }
        selector = Selector(opt, {VAL: val_docs, **extra_evals}, opt.mode)
        loop = _Loop(self, model, vocab, optimizer, selector)
        return loop.run(stream, train_docs, replay_docs, val_docs, metrics)


class _Loop:
    """The epochs of one run: batches, steps, evaluation points, checkpoints."""

    def __init__(
        self,
        run: _Run,
        model: CharRNN,
        vocab: Vocab,
        optimizer: torch.optim.Optimizer,
        selector: Selector,
    ) -> None:
        self.job = run
        self.opt = run.opt
        self.model, self.vocab, self.optimizer = model, vocab, optimizer
        self.selector = selector
        self.last_loss = math.nan

    def run(
        self,
        stream: TokenStream,
        train_docs: list[Document],
        replay_docs: list[Document],
        val_docs: list[Document],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        opt, job = self.opt, self.job
        epoch = int(metrics["epochs"])
        start_clock = time.monotonic() - float(metrics["seconds"])
        base_train_seconds = float(metrics["train_seconds"])
        run_chars, run_train_seconds = 0, 0.0  # this process only, for chars/s
        pending: list[float] = []
        finished = self._done(epoch, float(metrics["seconds"]))
        if not finished and self.selector.due(self._fraction(epoch, 0.0, 0.0)):
            self._measure(metrics, epoch, 0.0, start_clock)  # the starting point
        while not finished:
            torch.manual_seed(_epoch_seed(opt.seed, epoch))  # dropout
            generator = torch.Generator().manual_seed(_epoch_seed(opt.seed, epoch))
            if opt.shuffle or (opt.replay_ratio > 0 and replay_docs):
                docs = epoch_documents(train_docs, replay_docs, opt.replay_ratio, generator)
                stream = encode(docs, self.vocab)
            batches, count = self._batches(stream, generator)
            job.state = None
            stopped = False
            for index, (x, y) in enumerate(batches):
                elapsed = time.monotonic() - start_clock
                for group in self.optimizer.param_groups:
                    group["lr"] = self._lr(self._fraction(epoch, index / count, elapsed))
                began = time.perf_counter()
                loss = self._step(x.to(job.device), y.to(job.device), generator)
                run_train_seconds += time.perf_counter() - began
                chars = int((y != 0).sum())
                run_chars += chars
                metrics["steps"] += 1
                metrics["chars_seen"] += chars
                pending.append(loss)
                self.last_loss = loss
                if len(pending) >= opt.log_every:
                    _log(metrics, pending)
                speed = run_chars / max(run_train_seconds, 1e-9)
                elapsed = time.monotonic() - start_clock
                self._report(epoch, (index + 1) / count, elapsed, speed, metrics)
                fraction = self._fraction(epoch, (index + 1) / count, elapsed)
                if self.selector.due(fraction) and self._measure(
                    metrics, epoch, fraction, start_clock
                ):
                    stopped = True  # no better state for `patience` points: stop early
                    break
                if opt.time_budget is not None and elapsed >= opt.time_budget:
                    stopped = True
                    break
            if pending:
                _log(metrics, pending)
            epoch += 1
            metrics["epochs"] = epoch
            metrics["train_seconds"] = base_train_seconds + run_train_seconds
            metrics["chars_per_second"] = run_chars / max(run_train_seconds, 1e-9)
            self._end_epoch(val_docs, metrics, epoch)
            metrics["seconds"] = time.monotonic() - start_clock
            finished = stopped or self._done(epoch, metrics["seconds"])
            if opt.checkpoint_every_epoch and not finished:
                self._save(metrics, epoch, finished=False)
        self._finish(metrics, epoch)
        job.bar.close()
        return metrics

    def _batches(
        self, stream: TokenStream, generator: torch.Generator
    ) -> tuple[Iterator[tuple[Tensor, Tensor]], int]:
        opt, size = self.opt, self.job.batch_size
        if opt.mode == "stream":
            return (
                track_batches(stream, size, opt.seq_len, generator),
                track_batch_count(stream, size, opt.seq_len),
            )
        return (
            window_batches(stream, size, self.model.config.max_length, generator),
            window_batch_count(stream, size),
        )

    def _step(self, x: Tensor, y: Tensor, generator: torch.Generator) -> float:
        """One optimizer step; stream: (B, T) -> (B, T) targets, window: (B, L) -> (B,).
        Returns the cross-entropy (the anchor's pull is optimised but not reported)."""
        job, model = self.job, self.model
        state = carry_state(job.state, self.opt.state_reset, generator)  # None in window mode
        in_bfloat16 = self.opt.precision == "bfloat16"
        with torch.autocast(job.device.type, dtype=torch.bfloat16, enabled=in_bfloat16):
            _, loss, job.state = model(x, y, state, mode=self.opt.mode)  # mean over targets
        assert loss is not None
        total = loss if job.anchor is None else loss + job.anchor.penalty(model)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.opt.clip)
        self.optimizer.step()
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

    def _lr(self, fraction: float) -> float:
        """Linear warm-up over the first `warmup` of the run, then the rate held until the last
        `decay` of it, over which it falls linearly to 0."""
        warm = min(1.0, fraction / self.opt.warmup) if self.opt.warmup > 0 else 1.0
        return self.opt.lr * warm * min(1.0, max(0.0, 1.0 - fraction) / self.opt.decay)

    def _report(
        self, epoch: int, within: float, elapsed: float, speed: float, metrics: dict[str, Any]
    ) -> None:
        opt, loss = self.opt, self.last_loss
        fraction = min(1.0, self._fraction(epoch, within, elapsed))
        where = f"{elapsed:.0f}/{opt.time_budget:.0f}s" if opt.time_budget else f"{opt.epochs}"
        self.job.bar.update(
            fraction, f"epoch {epoch + 1}/{where} loss {loss:.3f} {speed:,.0f} chars/s"
        )
        self._emit("train", epoch, fraction, metrics, chars_per_second=speed)

    def _emit(
        self, phase: str, epoch: int, fraction: float, metrics: dict[str, Any], **more: Any
    ) -> None:
        if self.job.on_progress is not None:
            event = {"phase": phase, "epoch": epoch, "fraction": fraction}
            event.update(loss=self.last_loss, steps=metrics["steps"], **more)
            self.job.on_progress(event)

    def _measure(
        self, metrics: dict[str, Any], epoch: int, fraction: float, start_clock: float
    ) -> bool:
        """An evaluation point: every text measured (with heartbeats); True to stop early."""
        where = {
            "steps": metrics["steps"],
            "chars_seen": metrics["chars_seen"],
            "seconds": time.monotonic() - start_clock,
            "fraction": fraction,
        }

        def beat(part: float) -> None:
            self._emit("eval", epoch, min(1.0, fraction), metrics, eval_fraction=part)

        stop = self.selector.measure(self.model, self.vocab, where, beat)
        point = self.selector.history[-1]
        metrics["evals"] = [p.to_json() for p in self.selector.history]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in point.nats_per_char.items())
        self.job.bar.note(f"step {point.step}: {shown} nats/char")
        return stop

    # -- end of epoch and of the run --------------------------------------------------------------

    def _end_epoch(self, val_docs: list[Document], metrics: dict[str, Any], epoch: int) -> None:
        opt, bar = self.opt, self.job.bar
        val = ""
        if val_docs and not self.selector.enabled:
            result = evaluate(self.model, self.vocab, val_docs, opt.mode)
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
        bar.note(
            f"epoch {epoch}: train {train_loss:.4f}{val}, "
            f"{metrics.get('chars_per_second', 0):,.0f} chars/s"
        )
        if opt.samples:
            settings = (opt.sample_chars, opt.seed, opt.mode)
            for sample in epoch_samples(self.model, self.vocab, *settings, note=bar.note):
                metrics["samples"].append({"epoch": epoch, **sample})

    def _finish(self, metrics: dict[str, Any], epoch: int) -> None:
        """The final checkpoint: with evaluation points, of the state they chose."""
        point = self.selector.restore(self.model)
        if point is not None:
            metrics["selected"] = point.to_json()
            nats = point.nats_per_char[VAL]
            metrics["val_nats_per_char"] = nats
            metrics["val_bits_per_char"] = nats / math.log(2)
        self._save(metrics, epoch, finished=True)

    def _save(self, metrics: dict[str, Any], epoch: int, finished: bool) -> None:
        metrics["finished"] = finished
        state = None
        if self.opt.checkpoint_every_epoch and not self.selector.keep_best:
            info = {"epoch": epoch, "data_sha256": metrics["data_sha256"], "seed": self.opt.seed}
            state = ckpt.ResumeState(ckpt.optimizer_tensors(self.optimizer), info)
        checkpoint = ckpt.Checkpoint(self.model, self.vocab, metrics)
        ckpt.save(checkpoint, self.job.out, resume=state)


def _log(metrics: dict[str, Any], pending: list[float]) -> None:
    """One point of the training-loss curve: [step, characters seen, mean loss]."""
    mean = sum(pending) / len(pending)
    metrics["train_loss"].append([metrics["steps"], metrics["chars_seen"], round(mean, 5)])
    pending.clear()


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 17) % (2**63)
