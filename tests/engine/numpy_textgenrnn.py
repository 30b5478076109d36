"""textgenrnn's forward pass in plain NumPy (float64), straight from its .hdf5 arrays.

An independent reference for the importer: it shares no code with `engine`. It does what
textgenrnn does on a CPU: Keras' `load_weights` converts CuDNNLSTM arrays to plain-LSTM ones with
Keras' own rule (`keras/engine/saving.py: _convert_rnn_weights`), then runs Keras' LSTM equations
(sigmoid recurrent activation), the AttentionWeightedAverage layer and the softmax Dense layer.
Generation input: `<s>` + prefix, the last `max_length` tokens, unknown characters -> 0,
left-padded with 0 (`keras.preprocessing.sequence.pad_sequences`).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

KERAS_EPSILON = 1e-7


def _names(attr: np.ndarray) -> list[str]:
    return [
        v.decode("utf-8") if isinstance(v, bytes) else str(v)
        for v in np.atleast_1d(attr)
        if np.size(attr)
    ]


def _cudnn_to_keras(
    kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras' CuDNN -> LSTM conversion, per gate, exactly as Keras writes it."""
    n_gates = 4
    kernels = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, n_gates)])
    recurrents = np.hstack([k.T for k in np.hsplit(recurrent, n_gates)])
    biases = np.sum(np.split(bias, 2, axis=0), axis=0)
    return kernels, recurrents, biases


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def keras_lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    backwards: bool = False,
) -> np.ndarray:
    """(T, in) -> (T, units) hidden states of a Keras LSTM, gate order i, f, c, o."""
    units = recurrent.shape[0]
    h, c = np.zeros(units), np.zeros(units)
    steps = range(len(x) - 1, -1, -1) if backwards else range(len(x))
    out = np.zeros((len(x), units))
    for t in steps:
        z = x[t] @ kernel + h @ recurrent + bias  # (4U,)
        i = _sigmoid(z[:units])
        f = _sigmoid(z[units : 2 * units])
        c = f * c + i * np.tanh(z[2 * units : 3 * units])
        o = _sigmoid(z[3 * units :])
        h = o * np.tanh(c)
        out[t] = h  # a backward layer's outputs are put back in time order (Bidirectional)
    return out


class NumpyTextgenrnn:
    """textgenrnn's model, read from its three files."""

    def __init__(self, weights: str | Path, vocab: str | Path, max_length: int = 40) -> None:
        self.vocab: dict[str, int] = json.loads(Path(vocab).read_text(encoding="utf-8"))
        self.max_length = max_length
        with h5py.File(weights, "r") as f:
            layer_names = _names(f.attrs["layer_names"])
            arrays = {
                layer: [
                    np.asarray(f[layer][name], dtype=np.float64)
                    for name in _names(f[layer].attrs["weight_names"])
                ]
                for layer in layer_names
            }
        self.embeddings = arrays["embedding"][0]  # (V, E)
        self.attention = arrays["attention"][0]  # (D, 1)
        self.out_kernel, self.out_bias = arrays["output"]  # (D, V), (V,)
        # Per RNN layer, per direction: (kernel, recurrent kernel, bias) in plain-Keras form.
        self.rnns: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        for layer in layer_names:
            weights_of = arrays[layer]
            if layer in ("embedding", "attention", "output") or len(weights_of) not in (3, 6):
                continue
            directions = []
            for k, r, b in (weights_of[:3], weights_of[3:6])[: len(weights_of) // 3]:
                directions.append(
                    _cudnn_to_keras(k, r, b) if len(b) == 2 * k.shape[1] else (k, r, b)
                )
            self.rnns.append(directions)

    def encode(self, prefix: str) -> list[int]:
        """textgenrnn_encode_sequence([<s>] + list(prefix)) for a window of max_length."""
        tokens = ["<s>", *prefix][-self.max_length :]
        ids = [self.vocab.get(token, 0) for token in tokens]
        return [0] * (self.max_length - len(ids)) + ids

    def probabilities(self, prefix: str) -> np.ndarray:
        """(V,) next-token probabilities after `prefix`, index 0 = padding included."""
        return self.probabilities_of_window(self.encode(prefix))

    def probabilities_of_window(self, ids: list[int]) -> np.ndarray:
        x = self.embeddings[np.asarray(ids)]  # (T, E)
        parts = [x]
        for directions in self.rnns:
            outs = [
                keras_lstm(x, k, r, b, backwards=d == 1) for d, (k, r, b) in enumerate(directions)
            ]
            x = np.concatenate(outs, axis=-1)  # (T, U * dirs)
            parts.append(x)
        feats = np.concatenate(parts, axis=-1)  # (T, D)
        logits = (feats @ self.attention)[:, 0]  # (T,)
        ai = np.exp(logits - logits.max())
        weights = ai / (ai.sum() + KERAS_EPSILON)
        pooled = (feats * weights[:, None]).sum(axis=0)  # (D,)
        scores = pooled @ self.out_kernel + self.out_bias  # (V,)
        e = np.exp(scores - scores.max())
        return e / e.sum()
