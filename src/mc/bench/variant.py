"""A variant under bench: the artifact loaded into a runtime with the thread count the target allows.

ONNX files run in ONNX Runtime, everything else (zoo names, checkpoints, factories) in torch eager,
the same resolution `mc eval` uses; the bench adds the thread limit and what the roofline needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mc.bench.roofline import OpCost
from mc.errors import InputError
from mc.runtimes._predictor import Predictor


@dataclass
class Variant:
    spec: str
    description: str
    runtime: str  # "onnxruntime" | "torch"
    predictor: Predictor
    sample_shape: tuple[int, ...]
    size_bytes: int | None  # the artifact file; None for a factory built in memory
    costs: Callable[[], tuple[list[OpCost], list[str]]]  # deferred: only a bench off the target needs them


def load_variant(spec: str, threads: int, input_shape: tuple[int, ...] | None = None) -> Variant:
    if spec.endswith(".onnx"):
        from mc.bench.roofline import onnx_costs
        from mc.onnx_file import load_onnx_model
        from mc.runtimes.onnxruntime import OnnxRuntimePredictor

        model = load_onnx_model(Path(spec))
        shape = tuple(input_shape or model.sample_shape)
        if any(dim <= 0 for dim in shape):
            raise InputError(f"{spec} has symbolic input dimensions {model.sample_shape}; pass --input-shape, batch first")
        return Variant(
            spec, f"{spec} (onnx)", "onnxruntime", OnnxRuntimePredictor(model.path, threads=threads), shape,
            model.path.stat().st_size, lambda: onnx_costs(model.path),
        )
    import torch

    from mc.bench.roofline import torch_costs
    from mc.models.source import check_forward, load_torch_model
    from mc.runtimes.torch_eager import TorchPredictor

    torch.set_num_threads(threads)
    model = load_torch_model(spec, input_shape)
    check_forward(model)
    size = model.checkpoint_path.stat().st_size if model.checkpoint_path is not None else None
    return Variant(
        spec, model.description, "torch", TorchPredictor(model.module), tuple(model.sample_shape), size,
        lambda: torch_costs(model.module, tuple(model.sample_shape)),
    )
