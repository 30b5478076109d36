"""Checkpoint folders: bit-exact round trips, and clear errors naming the bad file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine import checkpoint
from engine.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def folder(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint that a test may damage."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "model"))


def test_checkpoint_round_trips_bit_exactly(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Save(load(x)) loads back with every tensor, the config, vocab and metrics equal."""
    first = checkpoint.load(tiny_checkpoint)
    checkpoint.save(first, tmp_path / "copy")
    second = checkpoint.load(tmp_path / "copy")
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    assert first.model.config == second.model.config
    assert first.vocab.tokens == second.vocab.tokens
    assert first.vocab.unk_index == second.vocab.unk_index
    assert first.metrics == second.metrics


def test_save_leaves_no_temporary_folders(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Writing (and overwriting) a checkpoint leaves only the checkpoint folder behind."""
    loaded = checkpoint.load(tiny_checkpoint)
    checkpoint.save(loaded, tmp_path / "m")
    checkpoint.save(loaded, tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_truncated_weights_raise_naming_model_safetensors(folder: Path) -> None:
    """Half a weights file is refused with the file named."""
    weights = folder / checkpoint.WEIGHTS
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        checkpoint.load(folder)


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / checkpoint.CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(json.dumps(config), encoding="utf-8")


def test_config_with_a_wrong_size_raises_naming_config_json(folder: Path) -> None:
    """A config whose sizes do not fit the weights is refused, pointing at config.json."""
    _edit_config(folder, rnn_size=64)
    with pytest.raises(CheckpointError, match=r"config\.json"):
        checkpoint.load(folder)


def test_config_with_an_unknown_key_raises_naming_config_json(folder: Path) -> None:
    """A typo in config.json is not silently ignored."""
    _edit_config(folder, rnn_sise=32)
    with pytest.raises(CheckpointError, match=r"config\.json.*rnn_sise"):
        checkpoint.load(folder)


def test_vocab_size_mismatch_raises_naming_vocab_json(folder: Path) -> None:
    """config.json and vocab.json that disagree on the vocabulary size are refused."""
    _edit_config(
        folder, vocab_size=json.loads((folder / "config.json").read_text())["vocab_size"] + 1
    )
    with pytest.raises(CheckpointError, match=r"vocab\.json"):
        checkpoint.load(folder)


def test_missing_vocab_raises_naming_vocab_json(folder: Path) -> None:
    """A folder without vocab.json is refused with that file named."""
    (folder / checkpoint.VOCAB).unlink()
    with pytest.raises(CheckpointError, match=r"vocab\.json"):
        checkpoint.load(folder)


def test_truncated_resume_state_raises_naming_its_file(folder: Path) -> None:
    """The optional resume state is checked like the weights."""
    state = checkpoint.load_resume(folder)
    assert state is not None and state.tensors and state.info["epoch"] > 0
    path = folder / checkpoint.RESUME_TENSORS
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"resume\.safetensors"):
        checkpoint.load_resume(folder)
