"""The model's one contract in both modes: forward(idx, targets, state, mode) -> (logits, loss,
state)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.model import CharRNN
from engine.model_config import ModelConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def model(window: int) -> CharRNN:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=12, dim_embeddings=8, rnn_size=16, window=window)
    return CharRNN(config).eval()


def test_loss_is_the_mean_cross_entropy_over_non_pad_targets() -> None:
    """Targets equal to 0 (<pad>) are ignored; a chunk without targets has loss 0, not NaN."""
    net = model(window=3)
    idx = torch.randint(1, 12, (2, 9))
    targets = torch.randint(1, 12, (2, 9))
    targets[1, 4:] = 0
    with torch.no_grad():
        logits, loss, _ = net(idx, targets)
        keep = targets != 0
        expected = F.cross_entropy(logits[keep], targets[keep])
        _, empty, _ = net(idx, torch.zeros_like(targets))
        _, none, _ = net(idx)
    assert loss is not None and float(loss) == pytest.approx(float(expected), abs=1e-6)
    assert empty is not None and float(empty) == 0.0
    assert none is None


@pytest.mark.parametrize("window", [1, 4])
def test_prime_and_step_continue_what_forward_read(window: int) -> None:
    """prime(x) then step(y) gives forward(x + y)'s last logits: one semantics, three entries."""
    net = model(window)
    idx = torch.randint(1, 12, (3, 10))
    with torch.no_grad():
        whole, _, _ = net(idx)
        logits, state = net.prime(idx[:, :7])
        assert torch.allclose(logits, whole[:, 6], atol=1e-5)
        for t in range(7, 10):
            logits, state = net.step(idx[:, t], state)
            assert torch.allclose(logits, whole[:, t], atol=1e-5)


def test_window_one_reads_each_steps_own_features() -> None:
    """With window 1 the attention average is the step's own features (the fast path)."""
    net = model(window=1)
    idx = torch.randint(1, 12, (2, 6))
    with torch.no_grad():
        feats, _ = net.features(idx)
        logits, _, state = net(idx)
    assert torch.equal(logits, net.output(feats))
    assert state.features.shape == (2, 1, feats.size(-1))


def test_window_mode_returns_the_loss_of_the_token_after_each_window() -> None:
    """Window mode: (B, L) windows -> (B, V) logits, the mean cross-entropy over non-pad (B,)
    targets, and no state to carry."""
    net = model(window=3)
    idx = torch.randint(1, 12, (4, 6))
    targets = torch.tensor([3, 0, 5, 7])
    with torch.no_grad():
        logits, loss, state = net(idx, targets, mode="window")
        expected = F.cross_entropy(logits, targets, ignore_index=0)
    assert logits.shape == (4, 12) and state is None
    assert loss is not None and float(loss) == pytest.approx(float(expected), abs=1e-6)


def test_window_mode_of_a_vector_model_reads_each_window_whole() -> None:
    """textgenrnn's window mode attends over all L positions, whatever the stream window."""
    net = model(window=1)
    idx = torch.randint(1, 12, (2, 6))
    with torch.no_grad():
        logits, _, _ = net(idx, mode="window")
        feats, _ = net.features(idx)
        weights = torch.softmax(net.attention(feats).squeeze(-1), dim=-1)  # (B, L)
        expected = net.output(torch.einsum("bl,bld->bd", weights, feats))
    assert torch.allclose(logits, expected, atol=1e-5)


def test_chunked_stream_forward_equals_one_long_forward() -> None:
    """Reading a text in chunks with the carried state gives the logits of one forward."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=12, dim_embeddings=8, rnn_size=16, window=6)).eval()
    idx = torch.randint(0, 12, (3, 23))
    with torch.no_grad():
        whole, _, _ = model(idx)
        parts, state = [], None
        for begin in range(0, 23, 5):
            logits, _, state = model(idx[:, begin : begin + 5], state=state)
            parts.append(logits)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)
