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

from engine.errors import CheckpointError
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.quantize import Quantize, quantize_model
from engine.vocab import Vocab

WEIGHTS, CONFIG, VOCAB, METRICS = "model.safetensors", "config.json", "vocab.json", "metrics.json"
# Optional: what `train --resume` needs beyond the model (optimizer moments, position in the run).
RESUME_TENSORS, RESUME_INFO = "resume.safetensors", "resume.json"


@dataclass
class Checkpoint:
    """A model with its vocabulary and the metrics of the run(s) that made it."""

    model: CharRNN
    vocab: Vocab
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResumeState:
    """Optimizer tensors (flat names) and JSON facts about where a training run stopped."""

    tensors: dict[str, torch.Tensor]
    info: dict[str, Any]


def save(
    checkpoint: Checkpoint,
    folder: str | Path,
    *,
    resume: ResumeState | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write the checkpoint to `folder` atomically (temp folder + rename); returns the folder.
    `dtype` (e.g. torch.float16, for a shipped writer half the size) stores the floating-point
    weights in that type; they load back into float32."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    model = checkpoint.model
    if model.config.vocab_size != len(checkpoint.vocab):
        raise CheckpointError("vocab.json: vocabulary size does not match the model")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        if dtype is not None:
            tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2), encoding="utf-8")
        (tmp / VOCAB).write_text(checkpoint.vocab.to_json(), encoding="utf-8")
        (tmp / METRICS).write_text(json.dumps(checkpoint.metrics, indent=2), encoding="utf-8")
        if resume is not None:
            save_file(
                {k: v.detach().to("cpu").contiguous() for k, v in resume.tensors.items()},
                str(tmp / RESUME_TENSORS),
            )
            (tmp / RESUME_INFO).write_text(json.dumps(resume.info), encoding="utf-8")
        publish(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def publish(tmp: Path, folder: Path) -> None:
    """Move a finished folder into place with one rename, replacing what was there."""
    if folder.exists():
        # Swap: move the old folder aside first so the new one lands with a single rename.
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
        os.replace(folder, old / "x")
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


def load(
    folder: str | Path, device: torch.device | str = "cpu", quantize: Quantize = "none"
) -> Checkpoint:
    """Read and check a checkpoint folder; raise CheckpointError naming the first bad file.

    Weights stored in float16 or bfloat16 load into a float32 model. `quantize="int8"` gives an
    int8 copy for generation on the CPU (engine/quantize.py); it cannot be trained."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    config = ModelConfig.from_dict(_read_json(folder / CONFIG))
    vocab = Vocab.from_json(_read_text(folder / VOCAB))
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{folder / VOCAB}: {len(vocab)} tokens but config.json says {config.vocab_size}"
        )
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
            raise CheckpointError(
                f"{folder / WEIGHTS}: {name} has shape {tuple(tensor.shape)}, "
                f"config.json implies {tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{folder / WEIGHTS}: {name} holds NaN or infinite values")
    model.load_state_dict(tensors)  # copies into float32, whatever the stored dtype
    model.to(device)
    model.eval()
    model = quantize_model(model, quantize, device)
    return Checkpoint(model=model, vocab=vocab, metrics=metrics)


def load_resume(folder: str | Path) -> ResumeState | None:
    """The resume state saved beside a checkpoint, or None when the folder has none."""
    folder = Path(folder)
    if not (folder / RESUME_INFO).exists():
        return None
    info = _read_json(folder / RESUME_INFO)
    if not isinstance(info, dict):
        raise CheckpointError(f"{folder / RESUME_INFO}: expected a JSON object")
    try:
        tensors = load_file(str(folder / RESUME_TENSORS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / RESUME_TENSORS}: unreadable ({exc})") from exc
    return ResumeState(tensors=tensors, info=info)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state as flat safetensors names '<param index>.<key>'."""
    state = optimizer.state_dict()["state"]
    return {
        f"{i}.{k}": v
        for i, entry in state.items()
        for k, v in entry.items()
        if isinstance(v, torch.Tensor)
    }


def load_optimizer_tensors(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]
) -> None:
    """Put state saved by `optimizer_tensors` back; the hyperparameters stay the optimizer's."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    try:
        for name, tensor in tensors.items():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for number, entry in state.items():
            for key, tensor in entry.items():
                if tensor.dim() and tensor.shape != params[number].shape:
                    raise ValueError(f"{number}.{key} has shape {tuple(tensor.shape)}")
        saved = optimizer.state_dict()
        saved["state"] = state
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{RESUME_TENSORS}: does not fit the model ({exc})") from exc


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
