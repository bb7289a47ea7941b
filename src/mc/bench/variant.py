"""A variant under bench: the artifact loaded into a runtime with the thread count the target allows.

ONNX files run in ONNX Runtime (on the GPU providers a compiled file is bound to), `.pt2`/`.ep` files
from `mc compile` in their compiled runtime, everything else (zoo names, checkpoints, factories) in
torch eager: the same resolution `mc eval` uses; the bench adds the thread limit and what the roofline needs.
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
    runtime: str  # "onnxruntime" | "torch" | "onnxruntime-cuda" | "onnxruntime-tensorrt" | "tensorrt" | "torch-compile"
    predictor: Predictor
    sample_shape: tuple[int, ...]
    size_bytes: int | None  # the artifact file; None for a factory built in memory
    costs: Callable[[], tuple[list[OpCost], list[str]]]  # deferred: only a bench off the target needs them
    device: str = "cpu"  # "cuda" for the GPU runtimes: the bench then times on the device and reports GPU memory


def _compiled_variant(spec: str, threads: int) -> Variant:
    """A `.pt2` (AOTInductor) or `.ep` (Torch-TensorRT) artifact; the roofline prices its source model."""
    from mc.compilation.artifacts import open_compiled

    compiled = open_compiled(Path(spec), threads=threads)

    def costs() -> tuple[list[OpCost], list[str]]:
        return [], [f"no roofline for a compiled {compiled.runtime} artifact: its kernels are the compiler's"]

    return Variant(
        spec, compiled.description, compiled.runtime, compiled.predictor, compiled.sample_shape,
        compiled.size_bytes, costs, device=compiled.device,
    )


def load_variant(spec: str, threads: int, input_shape: tuple[int, ...] | None = None) -> Variant:
    if spec.endswith(".onnx"):
        from mc.bench.roofline import onnx_costs
        from mc.compilation.artifacts import onnx_predictor, onnx_runtime_name
        from mc.onnx_file import load_onnx_model

        model = load_onnx_model(Path(spec))
        shape = tuple(input_shape or model.sample_shape)
        if any(dim <= 0 for dim in shape):
            raise InputError(f"{spec} has symbolic input dimensions {model.sample_shape}; pass --input-shape, batch first")
        runtime = onnx_runtime_name(model.path)
        return Variant(
            spec, f"{spec} ({'onnx' if runtime == 'onnxruntime' else runtime})", runtime,
            onnx_predictor(model.path, model.input_names[0], shape, threads=threads), shape,
            model.path.stat().st_size, lambda: onnx_costs(model.path),
            device="cpu" if runtime == "onnxruntime" else "cuda",
        )
    from mc.compilation.artifacts import is_compiled_path

    if is_compiled_path(spec):
        return _compiled_variant(spec, threads)
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
