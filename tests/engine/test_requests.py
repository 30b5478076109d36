"""What a request asks for, end to end: the whole context is read, distinct candidates, ranked
over-generation, refused settings, the CLI's context cut."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine.errors import EngineError
from engine.generate import _choose, generate
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.requests import Prompt, Sample, SampleSettings, context_tail
from engine.vocab import Vocab

STORY = "The cat sat. The dog ran! 그는 집에 갔다. 그녀는 웃었어요. 어디 가니? "


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build([STORY])


def tiny_model(vocab: Vocab, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=len(vocab), dim_embeddings=16, rnn_size=24, window=1)
    return CharRNN(config).eval()


def long_memory_model(vocab: Vocab) -> CharRNN:
    """A random model whose first LSTM never forgets (forget gate ~1), so what it read 800
    characters ago still moves its predictions, as a trained writer's memory may."""
    model = tiny_model(vocab)
    rnn = model.rnns[0]
    size = model.config.rnn_size
    with torch.no_grad():
        rnn.bias_hh_l0[size : 2 * size] = 30.0  # gate order: input, forget, cell, output
    return model


def test_a_long_context_is_read_from_its_first_character(vocab: Vocab) -> None:
    """Changing the first characters of an 850-character context changes the continuation's
    probabilities: nothing the caller sent is cut away (it was cut to 500 before)."""
    model = long_memory_model(vocab)
    body = STORY * 20  # 860 characters
    assert len(body) > 800
    settings = SampleSettings(max_chars=20, temperatures=(0.0,))
    first = Prompt(body, n=1, settings=settings)
    changed = Prompt("그녀는" + body[3:], n=1, settings=settings)
    assert len(changed.context) == len(first.context)
    [[a], [b]] = generate(model, vocab, [first, changed])
    assert abs(a.mean_logprob - b.mean_logprob) > 1e-6


def test_greedy_candidates_collapse_to_one_when_distinct(vocab: Vocab) -> None:
    """At temperature 0 every row writes the same text: distinct returns it once."""
    model = tiny_model(vocab)
    for overgenerate in (1, 2):
        settings = SampleSettings(
            max_chars=30, temperatures=(0.0,), overgenerate=overgenerate, distinct=True
        )
        found = generate(model, vocab, [Prompt("The", n=3, seed=1, settings=settings)])[0]
        assert len(found) == 1
    plain = SampleSettings(max_chars=30, temperatures=(0.0,))
    assert len(generate(model, vocab, [Prompt("The", n=3, settings=plain)])[0]) == 3


def test_distinct_candidates_differ_and_come_from_the_ranked_pool(vocab: Vocab) -> None:
    """A random model at temperature 1, over-generating 2x: n candidates, pairwise different
    after whitespace normalisation, each one of the pool's samples."""
    model = tiny_model(vocab, seed=2)
    settings = SampleSettings(max_chars=30, temperatures=(1.0,), overgenerate=2, distinct=True)
    prompt = Prompt("The dog", n=3, seed=5, settings=settings)
    found = generate(model, vocab, [prompt])[0]
    assert len(found) == 3
    assert len({" ".join(s.text.split()) for s in found}) == 3
    pool = SampleSettings(max_chars=30, temperatures=(1.0,))
    every = generate(model, vocab, [Prompt("The dog", n=6, seed=5, settings=pool)])[0]
    assert {(s.text, s.seed) for s in found} <= {(s.text, s.seed) for s in every}


def test_distinct_ignores_whitespace_differences_and_keeps_rank_order() -> None:
    """Texts equal but for spaces and newlines count as one; the first in order is kept."""
    pool = [
        Sample("a  b", -1.0, 1.0, 0),
        Sample("a b\n", -0.5, 1.0, 1),
        Sample("c", -2.0, 1.0, 2),
        Sample("a b", -0.1, 1.0, 3),
    ]
    settings = SampleSettings(distinct=True)
    assert _choose(pool, Prompt(n=3, settings=settings)) == [pool[0], pool[2]]
    assert _choose(pool, Prompt(n=3)) == pool[:3]


def test_over_generation_shows_finished_candidates_first() -> None:
    """A candidate cut mid-sentence at its cap ranks below finished ones, however fluent."""
    pool = [
        Sample("He walked to the door and", -0.8, 1.0, 0, finished=False),
        Sample("He walked to the door.", -1.1, 1.0, 1),
        Sample("She laughed at him.", -1.2, 1.0, 2),
    ]
    over = Prompt(n=2, settings=SampleSettings(overgenerate=2))
    assert _choose(pool, over) == [pool[1], pool[2]]


def test_context_tail_starts_at_a_word_and_keeps_short_contexts() -> None:
    """The CLI's cut: the last N characters from a word boundary; 0 or a short text: all."""
    text = "alpha beta gamma delta epsilon"
    assert context_tail(text, 0) == text
    assert context_tail(text, 100) == text
    assert context_tail(text, 15) == "delta epsilon"  # "a delta epsilon" minus the "a "


def test_a_prompt_needs_at_least_one_candidate() -> None:
    """n < 1 is refused with an EngineError (the worker relays its message)."""
    with pytest.raises(EngineError, match="n must be"):
        Prompt(n=0)


def test_bad_settings_are_refused() -> None:
    """Negative temperatures or an out-of-range top_p raise EngineError."""
    with pytest.raises(EngineError):
        SampleSettings(temperatures=(-1.0,))
    with pytest.raises(EngineError):
        SampleSettings(top_p=0.0)
