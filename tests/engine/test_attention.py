"""The stream-mode attention with a query: shapes, one semantics for chunked, stepped and batched
reads, checkpoints, and that it learns to look back where a window of one cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine import checkpoint as ckpt
from engine.errors import CheckpointError
from engine.generate import Prompt, SampleSettings, generate
from engine.model import CharRNN, StreamState
from engine.model_config import ModelConfig
from engine.train import train
from engine.vocab import Vocab
from tests.engine.conftest import TINY_TEXT, tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")

WINDOW, DIM = 5, 8


def query_model(seed: int = 0, window: int = WINDOW, vocab_size: int = 12) -> CharRNN:
    """A query model whose attention already does something (a new one starts as window one)."""
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=vocab_size,
        dim_embeddings=8,
        rnn_size=16,
        window=window,
        attention="query",
        attention_dim=DIM,
    )
    net = CharRNN(config).eval()
    assert net.query is not None
    with torch.no_grad():
        net.query.out.weight.normal_(0.0, 0.5)
        net.query.position.normal_(0.0, 1.0)
    return net


def test_shapes_of_a_chunk_a_step_and_the_carried_memory() -> None:
    """(B, T) -> (B, T, V) logits; the memory holds the last W keys and values, (B, W, 2A)."""
    net = query_model()
    idx = torch.randint(1, 12, (3, 9))
    with torch.no_grad():
        logits, _, state = net(idx)
        assert logits.shape == (3, 9, 12)
        assert state.features.shape == (3, WINDOW, 2 * DIM)
        assert state.scores.shape == (3, WINDOW)
        assert bool((state.scores == 0).all())  # nine steps read: the whole window is filled
        step_logits, after = net.step(idx[:, 0], state)
    assert step_logits.shape == (3, 12)
    assert after.features.shape == state.features.shape


def test_a_new_query_model_starts_as_the_window_one_model() -> None:
    """Its output projection starts at zero: the pooled features are the step's own."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=12, dim_embeddings=8, rnn_size=16, attention="query")
    net = CharRNN(config).eval()
    idx = torch.randint(1, 12, (2, 7))
    with torch.no_grad():
        feats, _ = net.features(idx)
        logits, _, _ = net(idx)
    assert torch.equal(logits, net.output(feats))


def test_a_short_text_masks_the_steps_before_it() -> None:
    """Fewer steps than the window: the unread slots stay masked, and the first step reads only
    itself (no attention to the zero memory)."""
    net = query_model()
    idx = torch.randint(1, 12, (2, 3))
    with torch.no_grad():
        _, _, state = net(idx)
        first, _, _ = net(idx[:, :1])
        feats, _ = net.features(idx[:, :1])
        assert net.query is not None
        value = net.query.qkv(feats)[..., 2 * DIM :]  # (B, 1, A): its own value, weight 1
        expected = net.output(feats + net.query.out(value))
    assert torch.isinf(state.scores[:, : WINDOW - 3]).all()
    assert (state.scores[:, WINDOW - 3 :] == 0).all()
    assert torch.allclose(first, expected, atol=1e-6)


@pytest.mark.parametrize("window", [1, WINDOW])
def test_stepping_with_the_memory_equals_a_full_recompute(window: int) -> None:
    """prime + step (the generation path) and chunked forwards give the logits of one forward
    over the whole sequence, including past the point where the memory wraps around."""
    net = query_model(window=window)
    idx = torch.randint(1, 12, (3, 17))
    with torch.no_grad():
        whole, _, _ = net(idx)
        logits, state = net.prime(idx[:, :4])
        assert torch.allclose(logits, whole[:, 3], atol=1e-5)
        for t in range(4, 17):
            logits, state = net.step(idx[:, t], state)
            assert torch.allclose(logits, whole[:, t], atol=1e-5)
        chunked, state = [], None
        for start in range(0, 17, 6):
            part, _, state = net(idx[:, start : start + 6], state=state)
            chunked.append(part)
    assert torch.allclose(torch.cat(chunked, dim=1), whole, atol=1e-5)


def test_batched_steps_equal_separate_steps() -> None:
    """A row's logits never depend on the other rows of the batch."""
    net = query_model()
    idx = torch.randint(1, 12, (4, 8))
    with torch.no_grad():
        _, state = net.prime(idx[:, :5])
        batched = [net.step(idx[:, t], state)[0] for t in (5,)]
        for row in range(4):
            one = StreamState.cat([state.select(torch.tensor([row]))])
            alone, _ = net.step(idx[row : row + 1, 5], one)
            assert torch.allclose(alone, batched[0][row : row + 1], atol=1e-6)


def test_generation_batched_equals_separate_and_is_seeded() -> None:
    """Through the sampler: prompts x candidates in one batch give each separate run's text."""
    chars = list("abcdefgh .")
    vocab = Vocab(["<pad>", "<unk>", "<s>", *chars])
    net = query_model(vocab_size=len(vocab))
    settings = SampleSettings(max_chars=30, stop_at_sentence_end=False, temperatures=(0.9,))
    prompts = [Prompt("abc abc", n=3, seed=5, settings=settings), Prompt("h", n=2, seed=9)]
    together = generate(net, vocab, prompts)
    for prompt, got in zip(prompts, together, strict=True):
        for i, sample in enumerate(got):
            alone = Prompt(prompt.context, n=1, seed=prompt.seed + i, settings=prompt.settings)
            assert generate(net, vocab, [alone])[0][0].text == sample.text
    assert [s.text for s in generate(net, vocab, prompts)[0]] == [s.text for s in together[0]]
    greedy = SampleSettings(max_chars=20, stop_at_sentence_end=False, temperatures=(0.0,))
    cold = [generate(net, vocab, [Prompt("ab", n=1, seed=s, settings=greedy)]) for s in (1, 2)]
    assert cold[0][0][0].text == cold[1][0][0].text  # temperature 0 ignores the seed


def test_window_mode_reads_a_query_models_window_as_a_stream() -> None:
    net = query_model()
    idx = torch.randint(1, 12, (2, 10))
    with torch.no_grad():
        whole, _, _ = net(idx)
        windowed, _, _ = net(idx, mode="window")
        assert torch.allclose(windowed, whole[:, -1], atol=1e-6)


def test_checkpoint_round_trip_and_old_configs_mean_vector(tmp_path: Path) -> None:
    """A query model saves and loads to the same logits; a config.json written before the choice
    (no attention keys) loads as textgenrnn's attention."""
    vocab = Vocab(["<pad>", "<unk>", "<s>", *"abcdefghi"])
    net = query_model(vocab_size=len(vocab))
    ckpt.save(ckpt.Checkpoint(net, vocab), tmp_path / "q")
    loaded = ckpt.load(tmp_path / "q")
    idx = torch.randint(1, 12, (2, 9))
    with torch.no_grad():
        assert torch.equal(loaded.model(idx)[0], net(idx)[0])
    assert loaded.model.config.attention == "query"

    torch.manual_seed(1)
    old = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=8, rnn_size=16)).eval()
    ckpt.save(ckpt.Checkpoint(old, vocab), tmp_path / "old")
    config = json.loads((tmp_path / "old" / ckpt.CONFIG).read_text())
    del config["attention"], config["attention_dim"]
    (tmp_path / "old" / ckpt.CONFIG).write_text(json.dumps(config))
    again = ckpt.load(tmp_path / "old")
    assert again.model.config.attention == "vector" and again.model.query is None
    with torch.no_grad():
        assert torch.equal(again.model(idx)[0], old(idx)[0])


def test_config_refuses_what_query_attention_cannot_do() -> None:
    with pytest.raises(CheckpointError, match="attention must be"):
        ModelConfig(vocab_size=5, attention="keyed")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="unidirectional"):
        ModelConfig(vocab_size=5, attention="query", rnn_bidirectional=True)
    with pytest.raises(CheckpointError, match="attention_dim"):
        ModelConfig(vocab_size=5, attention="query", attention_dim=0)


def test_training_a_new_query_model_gets_its_span(tmp_path: Path) -> None:
    """`--attention query` without `--window` takes the query span of train_options."""
    options = tiny_options(epochs=2, model={"dim_embeddings": 8, "rnn_size": 8, "rnn_layers": 1})
    options.model["attention"] = "query"
    train([TINY_TEXT], tmp_path / "q", options)
    config = ckpt.load(tmp_path / "q").model.config
    assert config.attention == "query" and config.window == 32


def copy_batch(generator: torch.Generator, lag: int, rows: int = 16) -> torch.Tensor:
    """(rows, 40) sequences of 8 symbols repeating with period `lag`: from step `lag` on, each
    symbol is the one `lag` steps back, which only a look back can predict."""
    head = torch.randint(3, 11, (rows, lag), generator=generator)
    return head.repeat(1, 40 // lag + 1)[:, :40]


def copy_loss(net: CharRNN, lag: int, steps: int) -> float:
    """Train on the copy task for `steps`; the loss on fresh sequences where it is predictable."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(steps):
        seq = copy_batch(generator, lag)
        _, loss, _ = net(seq[:, :-1], seq[:, 1:])
        assert loss is not None
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    seq = copy_batch(generator, lag, rows=64)
    with torch.no_grad():
        logits, _, _ = net(seq[:, :-1])
    return float(F.cross_entropy(logits[:, lag:].reshape(-1, 12), seq[:, lag + 1 :].reshape(-1)))


def test_query_attention_learns_to_look_back_where_window_one_cannot() -> None:
    """Copying the symbol seen 6 steps back: after the same short training the query model has
    nearly solved it and the window-one model (a plain LSTM) is still far off."""
    lag = 6
    small = {"vocab_size": 12, "dim_embeddings": 8, "rnn_size": 16, "rnn_layers": 1}
    torch.manual_seed(0)
    plain = CharRNN(ModelConfig(**small, window=1))
    torch.manual_seed(0)
    query = CharRNN(ModelConfig(**small, window=8, attention="query", attention_dim=16))
    plain_loss, query_loss = copy_loss(plain, lag, 150), copy_loss(query, lag, 150)
    assert query_loss < 0.3, query_loss
    assert query_loss < 0.25 * plain_loss, (query_loss, plain_loss)
