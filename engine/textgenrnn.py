"""Import textgenrnn's Keras `.hdf5` weights (+ its vocab and config JSON) as a CharRNN checkpoint.

The file is read the way Keras' `load_weights` reads it: `layer_names` on the root (or on
`model_weights` for a whole-model save), and per layer the `weight_names` attribute, whose entries
name the datasets (`rnn_1/rnn_1_3/kernel:0`: the suffix varies from file to file).

Two LSTM layouts, told apart by the bias length:

* CuDNNLSTM (bias 8*units; textgenrnn's published files). Keras 2.1.5 hands cuDNN each gate's
  (in, units) kernel slice flattened in C order, and cuDNN reads that buffer as a row-major
  (units, in) matrix: the PyTorch `weight_ih` of gate g is `kernel[:, g].reshape(units, in)`, NOT
  its transpose (Keras' own CuDNN -> LSTM converter does the same with
  `k.T.reshape(k.shape, order="F")`). Recurrent slices are square, so `weight_hh` of gate g is
  `recurrent_kernel[:, g]` untransposed. Bias = [input biases | recurrent biases]
  = bias_ih | bias_hh.
  Measured on weights/hacker_news.hdf5 over 199 of its training titles: 0.24 nats/char read this
  way, 56.6 nats/char with plain transposes.
* plain Keras LSTM (bias 4*units): `weight_ih = kernel.T`, `weight_hh = recurrent_kernel.T`,
  `bias_ih = bias`, `bias_hh = 0`. Its recurrent activation is not in a weights-only file;
  textgenrnn always builds its LSTMs with `recurrent_activation='sigmoid'` (PyTorch's), so sigmoid
  is assumed. A whole-model file whose `model_config` says otherwise (Keras 2.1's default
  `hard_sigmoid`) is refused.

Keras and PyTorch share the gate order i, f, c(g), o. textgenrnn's unknown index is 0 (<pad>), so
the imported Vocab has unk_index=0; `<s>` is its last index.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from engine.checkpoint import Checkpoint, save
from engine.errors import CheckpointError
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.vocab import PAD, START, Vocab

__all__ = ["ImportResult", "import_textgenrnn", "main_import", "read_textgenrnn_vocab"]

# Layers of textgenrnn's graph that carry no weights we need (context models add the last three;
# their generation reads the `output` layer, as ours does).
_IGNORED = {
    "input",
    "dropout",
    "rnn_concat",
    "context_input",
    "context_reshape",
    "concat",
    "context_output",
}


@dataclass(frozen=True)
class ImportResult:
    """What was imported, for the CLI's JSON and the checkpoint's metrics."""

    out: str
    vocab_size: int
    config: dict[str, Any]
    layouts: list[str]  # one per RNN layer: "cudnn" or "plain"
    keras_version: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "vocab_size": self.vocab_size,
            "config": self.config,
            "layouts": self.layouts,
            "keras_version": self.keras_version,
            "sha256": self.sha256,
        }


# -- reading the three files ---------------------------------------------------------------------


def read_textgenrnn_vocab(path: str | Path) -> Vocab:
    """textgenrnn's `{char: index}` (indices 1..N, `<s>` among them) -> Vocab with <pad> at 0."""
    data = _read_json(Path(path))
    if not isinstance(data, dict) or not data:
        raise CheckpointError(f"{path}: expected a JSON object {{char: index}}")
    by_index: dict[int, str] = {}
    for token, index in data.items():
        if not isinstance(index, int) or isinstance(index, bool):
            raise CheckpointError(f"{path}: index of {token!r} is not an integer")
        if token != START and len(token) != 1:
            raise CheckpointError(
                f"{path}: {token!r} is not one character "
                "(word-level textgenrnn models are not supported)"
            )
        if index in by_index:
            raise CheckpointError(f"{path}: index {index} is used twice")
        by_index[index] = token
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise CheckpointError(f"{path}: indices must be exactly 1..{len(by_index)}")
    if START not in data:
        raise CheckpointError(f"{path}: the start token <s> is missing")
    tokens = [PAD] + [by_index[i] for i in range(1, len(by_index) + 1)]
    try:
        return Vocab(tokens=tokens, unk_index=0)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def _read_textgenrnn_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    if data.get("word_level"):
        raise CheckpointError(f"{path}: word-level textgenrnn models are not supported")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from exc


@dataclass
class _KerasFile:
    """The weights of each layer in the file's layer order, as float32 arrays."""

    layers: dict[str, list[tuple[str, np.ndarray]]]  # layer -> [(weight name, array)]
    keras_version: str
    model_config: dict[str, Any] | None


def _read_hdf5(path: Path) -> _KerasFile:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        with h5py.File(path, "r") as f:
            root: h5py.Group = f.get("model_weights", f)
            layer_names = _string_list(root, "layer_names") or list(root.keys())
            layers: dict[str, list[tuple[str, np.ndarray]]] = {}
            for layer in layer_names:
                group = root[layer]
                layers[layer] = [
                    (name, np.asarray(group[name], dtype=np.float32))
                    for name in _string_list(group, "weight_names")
                ]
            version = _as_str(root.attrs.get("keras_version", f.attrs.get("keras_version", "")))
            raw_config = f.attrs.get("model_config")
            config = json.loads(_as_str(raw_config)) if raw_config is not None else None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable Keras weights file ({exc})") from exc
    return _KerasFile(layers=layers, keras_version=version, model_config=config)


def _string_list(group: h5py.Group, name: str) -> list[str]:
    """An attribute Keras stores as a byte-string array, possibly split into name0, name1, ..."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
    return [_as_str(v) for chunk in chunks for v in np.atleast_1d(chunk) if np.size(chunk)]


def _as_str(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -- mapping Keras arrays onto CharRNN -----------------------------------------------------------


def _weight(
    path: Path, layer: str, weights: list[tuple[str, np.ndarray]], suffix: str
) -> np.ndarray:
    found = [array for name, array in weights if name.endswith(suffix)]
    if len(found) != 1:
        raise CheckpointError(f"{path}: layer {layer!r} has no single weight '*{suffix}'")
    return found[0]


def _lstm_params(
    path: Path, where: str, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> tuple[str, list[np.ndarray]]:
    """One direction of one Keras LSTM -> (layout, [weight_ih, weight_hh, bias_ih, bias_hh])."""
    if recurrent.ndim != 2 or recurrent.shape[1] != 4 * recurrent.shape[0]:
        raise CheckpointError(
            f"{path}: {where}: recurrent kernel {recurrent.shape} is not "
            "(units, 4*units); only LSTM layers are supported"
        )
    units = recurrent.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != 4 * units:
        raise CheckpointError(f"{path}: {where}: kernel {kernel.shape} is not (in, 4*{units})")
    n_in = kernel.shape[0]
    gates = range(4)  # i, f, c, o in both Keras and PyTorch
    if bias.shape == (8 * units,):
        # cuDNN reads each gate's C-flattened (in, units) slice as a row-major (units, in) matrix.
        w_ih = np.concatenate(
            [kernel[:, g * units : (g + 1) * units].reshape(units, n_in) for g in gates]
        )  # (4U, in)
        w_hh = np.concatenate(
            [recurrent[:, g * units : (g + 1) * units] for g in gates]
        )  # (4U, U)
        return "cudnn", [w_ih, w_hh, bias[: 4 * units], bias[4 * units :]]
    if bias.shape == (4 * units,):
        return "plain", [kernel.T, recurrent.T, bias, np.zeros_like(bias)]
    raise CheckpointError(
        f"{path}: {where}: bias {bias.shape} is neither 4*{units} (LSTM) nor 8*{units} (CuDNNLSTM)"
    )


def _check_recurrent_activation(path: Path, model_config: dict[str, Any] | None) -> None:
    """Refuse plain LSTMs saved with a recurrent activation other than sigmoid."""
    if not model_config:
        return
    stack = [model_config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            activation = node.get("recurrent_activation")
            if activation is not None and activation != "sigmoid":
                raise CheckpointError(
                    f"{path}: an LSTM uses recurrent_activation={activation!r}; only 'sigmoid' "
                    "(what textgenrnn and cuDNN use) can be imported"
                )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _build(
    path: Path,
    keras: _KerasFile,
    vocab: Vocab,
    tg_config: dict[str, Any],
    config_path: Path | None,
) -> tuple[CharRNN, list[str]]:
    """Map the Keras arrays onto a CharRNN, checking every shape; returns it and the layouts."""
    layers = keras.layers
    for needed in ("embedding", "attention", "output"):
        if needed not in layers:
            raise CheckpointError(f"{path}: no {needed!r} layer; not a textgenrnn weights file")
    embeddings = _weight(path, "embedding", layers["embedding"], "embeddings:0")  # (V, E)
    attention = _weight(path, "attention", layers["attention"], "_W:0")  # (D, 1)
    out_kernel = _weight(path, "output", layers["output"], "kernel:0")  # (D, V)
    out_bias = _weight(path, "output", layers["output"], "bias:0")  # (V,)
    rnn_names = [
        name
        for name, weights in layers.items()
        if name not in _IGNORED and name not in ("embedding", "attention", "output") and weights
    ]
    if not rnn_names:
        raise CheckpointError(f"{path}: no RNN layers found")
    if len(embeddings) != len(vocab):
        raise CheckpointError(
            f"{path}: the embedding has {len(embeddings)} rows but the vocabulary has "
            f"{len(vocab)} tokens (with <pad>); wrong vocab file?"
        )

    state: dict[str, np.ndarray] = {
        "embedding.weight": embeddings,
        "attention.weight": attention.T,
        "output.weight": out_kernel.T,
        "output.bias": out_bias,
    }
    layouts: list[str] = []
    directions: set[int] = set()
    for i, name in enumerate(rnn_names):
        weights = layers[name]
        if len(weights) not in (3, 6):
            raise CheckpointError(
                f"{path}: layer {name!r} has {len(weights)} weights; "
                "expected an LSTM (3) or a bidirectional LSTM (6)"
            )
        directions.add(len(weights) // 3)
        # Keras' Bidirectional lists the forward layer's weights, then the backward layer's.
        for d, chunk in enumerate((weights[:3], weights[3:6])[: len(weights) // 3]):
            kernel, recurrent, bias = (
                _weight(path, name, chunk, s)
                for s in ("/kernel:0", "recurrent_kernel:0", "bias:0")
            )
            layout, params = _lstm_params(path, f"layer {name!r}", kernel, recurrent, bias)
            layouts.append(layout)
            suffix = "_reverse" if d else ""
            for key, array in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params, strict=True
            ):
                state[f"rnns.{i}.{key}_l0{suffix}"] = array
    if "plain" in layouts:
        _check_recurrent_activation(path, keras.model_config)
    if len(directions) != 1:
        raise CheckpointError(f"{path}: mixes bidirectional and one-way RNN layers")

    units = state["rnns.0.weight_hh_l0"].shape[1]
    max_length = int(tg_config.get("max_length", 40))
    config = ModelConfig(
        vocab_size=len(vocab),
        dim_embeddings=embeddings.shape[1],
        rnn_size=units,
        rnn_layers=len(rnn_names),
        rnn_type="lstm",
        rnn_bidirectional=directions == {2},
        max_length=max_length,
        window=max_length,
    )
    for key in ("dim_embeddings", "rnn_size", "rnn_layers", "rnn_bidirectional"):
        if key in tg_config and tg_config[key] != getattr(config, key):
            raise CheckpointError(
                f"{config_path}: {key}={tg_config[key]!r} but {path.name} "
                f"holds {getattr(config, key)!r}"
            )

    model = CharRNN(config)
    expected = model.state_dict()
    if set(state) != set(expected):
        raise CheckpointError(
            f"{path}: layers do not fit together (missing {sorted(set(expected) - set(state))})"
        )
    for key, array in state.items():
        if tuple(array.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(array.shape)}, the rest of "
                f"the file implies {tuple(expected[key].shape)}"
            )
        if not np.isfinite(array).all():
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values")
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    )
    model.eval()
    return model, layouts


# -- entry points --------------------------------------------------------------------------------


def import_textgenrnn(
    weights: str | Path, vocab: str | Path, config: str | Path | None, out: str | Path
) -> ImportResult:
    """Convert textgenrnn's three files into a checkpoint folder at `out`."""
    weights_path, vocab_path = Path(weights), Path(vocab)
    config_path = Path(config) if config is not None else None
    tg_config = _read_textgenrnn_config(config_path)
    the_vocab = read_textgenrnn_vocab(vocab_path)
    keras = _read_hdf5(weights_path)
    model, layouts = _build(weights_path, keras, the_vocab, tg_config, config_path)
    not_nfc = [t for t in the_vocab.tokens if len(t) == 1 and unicodedata.normalize("NFC", t) != t]
    if not_nfc:
        # Our Vocab NFC-normalizes text, so these tokens can be predicted but never read.
        print(
            f"warning: {vocab_path}: {len(not_nfc)} tokens are not NFC: {not_nfc[:10]}",
            file=sys.stderr,
        )
    result = ImportResult(
        out=str(out),
        vocab_size=len(the_vocab),
        config=model.config.to_dict(),
        layouts=layouts,
        keras_version=keras.keras_version,
        sha256=hashlib.sha256(weights_path.read_bytes()).hexdigest(),
    )
    metrics = {
        "imported_from": {
            "format": "textgenrnn",
            "weights": weights_path.name,
            "sha256": result.sha256,
            "keras_version": keras.keras_version,
            "layouts": layouts,
            "textgenrnn_config": tg_config,
        }
    }
    save(Checkpoint(model=model, vocab=the_vocab, metrics=metrics), out)
    return result


def main_import(args: argparse.Namespace) -> int:
    """`python -m engine import-textgenrnn --weights W --vocab V [--config C] --out DIR`."""
    result = import_textgenrnn(args.weights, args.vocab, args.config, args.out)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        cfg = result.config
        print(
            f"imported {args.weights} -> {result.out}: {result.vocab_size} tokens, "
            f"{cfg['rnn_layers']} x LSTM {cfg['rnn_size']} ({', '.join(result.layouts)})"
        )
    return 0
