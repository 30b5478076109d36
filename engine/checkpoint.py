"""Checkpoint folders: model.safetensors + config.json + vocab.json + metrics.json.

A folder is written under a temporary name and renamed into place, so a reader never sees half a
checkpoint. Loading checks every file and raises CheckpointError naming the bad one. Nothing is
unpickled: weights are safetensors, everything else JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.config import ModelConfig
from engine.errors import CheckpointError
from engine.model import CharRNN
from engine.vocab import Vocab

WEIGHTS, CONFIG, VOCAB, METRICS = "model.safetensors", "config.json", "vocab.json", "metrics.json"


@dataclass
class Checkpoint:
    """A model with its vocabulary and the metrics of the run(s) that made it."""

    model: CharRNN
    vocab: Vocab
    metrics: dict[str, Any] = field(default_factory=dict)


def save(checkpoint: Checkpoint, folder: str | Path) -> Path:
    """Write the checkpoint to `folder` atomically (temp folder + rename); returns the folder."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    model = checkpoint.model
    if model.config.vocab_size != len(checkpoint.vocab):
        raise CheckpointError("vocab.json: vocabulary size does not match the model")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2), encoding="utf-8")
        (tmp / VOCAB).write_text(checkpoint.vocab.to_json(), encoding="utf-8")
        (tmp / METRICS).write_text(json.dumps(checkpoint.metrics, indent=2), encoding="utf-8")
        if folder.exists():
            # Swap: move the old folder aside first so the new one lands with a single rename.
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, old / "x")
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load(folder: str | Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Read and check a checkpoint folder; raise CheckpointError naming the first bad file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    config = ModelConfig.from_dict(_read_json(folder / CONFIG))
    vocab = Vocab.from_json(_read_text(folder / VOCAB))
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{folder / VOCAB}: {len(vocab)} tokens but config.json says {config.vocab_size}")
    metrics = _read_json(folder / METRICS) if (folder / METRICS).exists() else {}
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS}: unreadable ({exc})") from exc
    model = CharRNN(config)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"{folder / WEIGHTS}: tensors missing {missing}, unexpected {extra}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{folder / WEIGHTS}: {name} has shape {tuple(tensor.shape)}, "
                                  f"config.json implies {tuple(expected[name].shape)}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{folder / WEIGHTS}: {name} holds NaN or infinite values")
    model.load_state_dict(tensors)
    model.to(device)
    model.eval()
    return Checkpoint(model=model, vocab=vocab, metrics=metrics)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
