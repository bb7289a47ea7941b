"""PyTorch-native dynamic int8 quantization (Linear, LSTM, GRU) for models that stay in torch."""

from __future__ import annotations

import warnings

import torch
from torch import nn

MODULE_TYPES = {"Linear": nn.Linear, "LSTM": nn.LSTM, "GRU": nn.GRU}


def apply_torch_dynamic(module: nn.Module, op_types: tuple[str, ...]) -> nn.Module:
    """Swap the named module types for int8-weight versions (activations quantized per call).

    torch.ao's eager-mode API is deprecated in favour of torchao but is what ships with torch and
    runs on its fbgemm/qnnpack kernels; the result reloads from a weights_only checkpoint.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            module, {MODULE_TYPES[name] for name in op_types}, dtype=torch.qint8
        )


def quantized_module_counts(module: nn.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for child in module.modules():
        kind = type(child).__module__
        if "quantized" in kind and type(child).__name__ in MODULE_TYPES:
            counts[type(child).__name__] = counts.get(type(child).__name__, 0) + 1
    return counts
