"""int8 dynamic quantisation of a loaded writer, for generation on the CPU.

A bigger writer costs more per step, and most bots run on a CPU. Dynamic quantisation stores the
LSTM and linear weights as int8 and quantises each layer's input on the fly, so a step's matrix
products run in int8 (fbgemm/onednn kernels): faster and smaller, for a small rise in loss
(README "Performance" has the figures). Only for reading: a quantised model cannot be trained,
and it stays on the CPU.

One caveat: an input is quantised with one scale per tensor, i.e. per batch, so a candidate's
text can depend (slightly) on the other rows it was batched with. Without quantisation a
candidate depends only on its own prompt, settings and seed.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from engine.errors import EngineError
from engine.model import CharRNN

__all__ = ["QUANTIZE_CHOICES", "Quantize", "quantize_model"]

Quantize = Literal["none", "int8"]
QUANTIZE_CHOICES: tuple[Quantize, ...] = ("none", "int8")


def quantize_model(model: CharRNN, how: Quantize, device: torch.device | str = "cpu") -> CharRNN:
    """The model to generate with: itself ("none") or an int8 copy of it ("int8", CPU only)."""
    if how == "none":
        return model
    if how != "int8":
        raise EngineError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {how!r}")
    if torch.device(device).type != "cpu":
        raise EngineError("int8 quantisation runs on the CPU only")
    model.eval()
    with warnings.catch_warnings():
        # torch 2.13 marks torch.ao.quantization deprecated in favour of torchao (not a
        # dependency here) and warns while it builds the int8 weights; the API still works and
        # tests/engine/test_quantize.py checks it does.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(
            model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8
        )
    assert isinstance(quantized, CharRNN)
    return quantized
