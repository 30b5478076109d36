"""Evaluation points: the kept state is the best one within the limits; early stopping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from engine import _selection
from engine._selection import Selector
from engine.data import Document
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.train_options import TrainOptions
from engine.vocab import Vocab


def scripted(monkeypatch: pytest.MonkeyPatch, losses: list[dict[str, float]]) -> None:
    """evaluate() returns the scripted losses, one dict per evaluation point."""
    points: Iterator[dict[str, float]] = iter(losses)
    current: dict[str, float] = {}

    def fake(model: Any, vocab: Any, docs: list[Document], mode: str, **_: Any) -> Any:
        nonlocal current
        if docs[0].text == "val":
            current = next(points)
        return {"nats_per_char": current[docs[0].text]}

    monkeypatch.setattr(_selection, "evaluate", fake)


def run(selector: Selector, model: CharRNN, count: int) -> list[bool]:
    """Measure `count` points, changing a weight before each, so states differ."""
    stops = []
    for step in range(count):
        with torch.no_grad():
            model.output.bias[0] = float(step)
        where = {"steps": step, "chars_seen": step * 10, "seconds": 0.0, "fraction": step / 4}
        stops.append(selector.measure(model, Vocab.build(["ab"]), where, lambda f: None))
    return stops


@pytest.fixture
def model() -> CharRNN:
    return CharRNN(ModelConfig(vocab_size=5, dim_embeddings=4, rnn_size=4))


TEXTS = {"val": [Document("val")], "base": [Document("base")]}


def test_keeps_the_lowest_validation_loss_within_the_limits(
    monkeypatch: pytest.MonkeyPatch, model: CharRNN
) -> None:
    """A better validation loss that breaks the base limit is not kept; its state is not used."""
    scripted(
        monkeypatch,
        [
            {"val": 3.0, "base": 2.0},
            {"val": 2.5, "base": 2.04},
            {"val": 2.0, "base": 2.2},  # best validation, but forgets too much
            {"val": 2.4, "base": 2.05},
        ],
    )
    options = TrainOptions(eval_points=4, keep_best=True, limits={"base": 2.05})
    selector = Selector(options, TEXTS, "stream")
    run(selector, model, 4)
    kept = selector.restore(model)
    assert kept is not None and kept.step == 3
    assert float(model.output.bias[0].detach()) == 3.0


def test_with_nothing_within_the_limits_the_lowest_validation_loss_is_kept(
    monkeypatch: pytest.MonkeyPatch, model: CharRNN
) -> None:
    """A parent already past a limit: the best validation loss is kept, for the gate to judge."""
    scripted(monkeypatch, [{"val": 3.0, "base": 2.3}, {"val": 2.0, "base": 2.4}])
    options = TrainOptions(eval_points=2, keep_best=True, limits={"base": 2.1})
    selector = Selector(options, TEXTS, "stream")
    run(selector, model, 2)
    kept = selector.restore(model)
    assert kept is not None and kept.step == 1


def test_patience_counts_only_points_within_the_limits(
    monkeypatch: pytest.MonkeyPatch, model: CharRNN
) -> None:
    """Early points past a limit do not stop the run; points within it that gain nothing do."""
    scripted(
        monkeypatch,
        [
            {"val": 2.0, "base": 2.0},
            {"val": 2.5, "base": 2.5},
            {"val": 2.4, "base": 2.5},
            {"val": 2.8, "base": 2.0},
            {"val": 2.9, "base": 2.0},
        ],
    )
    options = TrainOptions(eval_points=8, keep_best=True, limits={"base": 2.1}, patience=2)
    selector = Selector(options, TEXTS, "stream")
    assert run(selector, model, 5) == [False, False, False, False, True]


def test_a_run_that_gains_only_by_forgetting_keeps_that_state_for_the_gate(
    monkeypatch: pytest.MonkeyPatch, model: CharRNN
) -> None:
    """No point within the limits gains min_gain: the lowest validation loss is kept, so the
    gate can say what learning the text would cost instead of 'no gain'."""
    scripted(
        monkeypatch,
        [
            {"val": 3.0, "base": 2.0},
            {"val": 2.99, "base": 2.05},  # within, but gains too little
            {"val": 2.2, "base": 2.3},
        ],
    )
    options = TrainOptions(eval_points=3, keep_best=True, limits={"base": 2.1}, min_gain=0.05)
    selector = Selector(options, TEXTS, "stream")
    run(selector, model, 3)
    kept = selector.restore(model)
    assert kept is not None and kept.step == 2


def test_select_on_ranks_points_by_a_weighted_sum_of_texts(
    monkeypatch: pytest.MonkeyPatch, model: CharRNN
) -> None:
    """A bilingual model is kept where both languages together are best: a point where one
    language still falls but the other rises more is not kept."""
    scripted(
        monkeypatch,
        [
            {"val": 4.0, "base": 2.5},
            {"val": 3.4, "base": 2.0},  # sum 5.4: the best
            {"val": 3.7, "base": 1.9},  # base still falls, val rises more: sum 5.6
        ],
    )
    options = TrainOptions(eval_points=3, keep_best=True, select_on={"val": 1.0, "base": 1.0})
    selector = Selector(options, TEXTS, "stream")
    run(selector, model, 3)
    kept = selector.restore(model)
    assert kept is not None and kept.step == 1
