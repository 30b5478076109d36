"""Evaluation points during a run, and which state the run ends with.

A fine-tune is judged on a held-out slice of its own text and on texts it should not forget.
Measured only at the end, a run that went past its best would be kept at its worst; so the
trainer evaluates at points spread over the run (and once before the first step), and with
`keep_best` ends with the state of the point that had the lowest validation loss among those
whose other losses stayed within their limits and that gained at least `min_gain` (if none did:
the lowest validation loss, whatever it cost). The starting point is a candidate too: a run that
only made things worse ends where it started, and a gate can see that it gained nothing; a run
that could only gain by forgetting ends there, and a gate can say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from engine.data import Document
from engine.evaluate import evaluate
from engine.model import CharRNN
from engine.model_config import Mode
from engine.train_options import TrainOptions
from engine.vocab import Vocab

__all__ = ["Point", "Selector"]

VAL = "val"  # the name of the validation set among the evaluated texts


@dataclass
class Point:
    """One evaluation point: where in the run, and the loss (nats/char) on each text."""

    step: int
    chars_seen: int
    seconds: float
    fraction: float
    nats_per_char: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "chars_seen": self.chars_seen,
            "seconds": round(self.seconds, 2),
            "fraction": round(self.fraction, 4),
            "nats_per_char": {k: round(v, 6) for k, v in self.nats_per_char.items()},
        }


class Selector:
    """When to evaluate, what was measured, and the best state so far."""

    def __init__(
        self, options: TrainOptions, texts: dict[str, list[Document]], mode: Mode
    ) -> None:
        self.points = options.eval_points
        self.keep_best = options.keep_best
        self.limits = dict(options.limits)
        self.min_gain = options.min_gain
        self.patience = options.patience
        self.select_on = dict(options.select_on) or {VAL: 1.0}
        self.texts = {name: docs for name, docs in texts.items() if docs}
        self.mode = mode
        self.next = 0  # point k is due at fraction k / points
        self.history: list[Point] = []
        self.best: Point | None = None
        self.best_state: dict[str, Tensor] | None = None
        self.since_best = 0

    @property
    def enabled(self) -> bool:
        return self.points > 0 and VAL in self.texts

    def due(self, fraction: float) -> bool:
        return self.enabled and self.next <= self.points and fraction >= self.next / self.points

    def measure(
        self,
        model: CharRNN,
        vocab: Vocab,
        where: dict[str, Any],
        progress: Callable[[float], None],
    ) -> bool:
        """Evaluate every text now; keep the state if it is the best allowed so far. True when
        the patience has run out (stop the run)."""
        fraction = float(where["fraction"])
        self.next = math.floor(fraction * self.points + 1e-9) + 1
        total = sum(len(d.text) for docs in self.texts.values() for d in docs)
        done = 0
        losses: dict[str, float] = {}
        for name, docs in self.texts.items():
            size = sum(len(d.text) for d in docs)

            def report(part: float, before: int = done, size: int = size) -> None:
                progress((before + part * size) / max(total, 1))

            losses[name] = evaluate(model, vocab, docs, self.mode, progress=report)[
                "nats_per_char"
            ]
            done += size
        point = Point(
            step=int(where["steps"]),
            chars_seen=int(where["chars_seen"]),
            seconds=float(where["seconds"]),
            fraction=fraction,
            nats_per_char=losses,
        )
        self.history.append(point)
        if self.best is None or self._rank(point) < self._rank(self.best):
            self.best = point
            self.since_best = 0
            if self.keep_best:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        # Only points within the limits count against the patience: early in a fine-tune the
        # other texts often rise past a limit and come back as the learning rate decays.
        if not self._outside(point):
            self.since_best += 1
        return self.patience > 0 and self.since_best >= self.patience

    def _outside(self, point: Point) -> bool:
        losses = point.nats_per_char
        return any(losses.get(name, 0.0) > limit for name, limit in self.limits.items())

    def _rank(self, point: Point) -> tuple[bool, float]:
        """Points within every limit that gained at least `min_gain` over the start come first,
        then the lower validation loss (or `select_on`'s weighted sum). When no point qualifies,
        the lowest one is kept whatever it cost, so a gate can say what learning this text
        would forget."""
        val = self._score(point)
        start = self._score(self.history[0])
        qualifies = not self._outside(point) and val <= start - self.min_gain
        return not qualifies, val

    def _score(self, point: Point) -> float:
        losses = point.nats_per_char
        return sum(weight * losses[name] for name, weight in self.select_on.items())

    def restore(self, model: CharRNN) -> Point | None:
        """Put the kept state back (with keep_best); the point the model now stands at."""
        if self.keep_best and self.best_state is not None:
            model.load_state_dict(self.best_state)
            return self.best
        return self.history[-1] if self.history else None
