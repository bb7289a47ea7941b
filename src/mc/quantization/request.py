"""What a user asks of `quantize` (the CLI flags, a recipe step) and the one function that does it.

A request is the user's vocabulary (a mode, the target's preset, a few overrides); the pass config
(`QuantizeConfig`) is the exact plan. Turning one into the other, and running the measured search
for `mode: auto`, lives here so that `mc quantize` and `mc run` cannot drift apart.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.data.evaluation import EvaluationData
from mc.models.source import OnnxModel
from mc.progress import Progress
from mc.quantization.presets import static_preset_values
from mc.quantization.scheme import DynamicStep, Float16Step, QuantizeConfig, StaticStep
from mc.targets import TargetProfile

IntType = Literal["int8", "uint8"]


class QuantizeRequest(BaseModel):
    """`mc quantize` options as data; None means "the target's preset"."""

    pass_name: ClassVar[str] = "quantize"
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["dynamic", "static", "fp16", "auto"] = "static"
    backend: Literal["onnxruntime", "torch"] = "onnxruntime"
    method: Literal["minmax", "entropy", "percentile"] | None = None
    format: Literal["qdq", "qoperator"] | None = None
    activation_type: IntType | None = None
    weight_type: IntType | None = None
    per_channel: bool | None = None
    reduce_range: bool | None = None
    op_types: tuple[str, ...] | None = None
    exclude_nodes: tuple[str, ...] = ()
    preprocess: bool = True
    calibration_samples: int = Field(256, ge=1, le=1_000_000)
    max_accuracy_drop: float = Field(0.5, ge=0, le=100, description="auto: percentage points")
    min_agreement: float = Field(0.99, ge=0, le=1, description="auto: top-1 agreement with fp32")

    def preset_overrides(self) -> dict:
        return dict(calibration_method=self.method, format=self.format, activation_type=self.activation_type,
                    weight_type=self.weight_type, per_channel=self.per_channel, reduce_range=self.reduce_range)


def plan_for(request: QuantizeRequest, target: TargetProfile) -> QuantizeConfig:
    """The exact plan of a static, dynamic or fp16 request under `target`'s preset."""
    if request.mode == "static":
        values = static_preset_values(target, **request.preset_overrides())
        step: StaticStep | DynamicStep | Float16Step = StaticStep(
            **values, op_types=request.op_types, exclude_nodes=request.exclude_nodes)
    elif request.mode == "dynamic":
        preset = target.quantization
        values = {"weight_type": request.weight_type or preset.weight_type, "per_channel": bool(request.per_channel),
                  "reduce_range": preset.reduce_range if request.reduce_range is None else request.reduce_range,
                  "exclude_nodes": request.exclude_nodes}
        if request.op_types:
            values["op_types"] = request.op_types
        step = DynamicStep(**values)
    elif request.mode == "fp16":
        step = Float16Step()
    else:
        raise ValueError("mode auto has no fixed plan: call quantize_onnx")
    return QuantizeConfig(steps=(step,), preprocess=request.preprocess, calibration_samples=request.calibration_samples)


def selection_data(model: OnnxModel, evaluation: EvaluationData, data_path: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """What the auto search judges candidates on: the MNIST-1D validation split for the built-in data,
    so the test set stays for the final figures; a user's own data otherwise."""
    from mc.data.mnist1d import INPUT_SHAPE, load_mnist1d

    if data_path is None and tuple(model.sample_shape) == INPUT_SHAPE:
        _, validation = load_mnist1d().train_validation_split(0.1, seed=0)
        return validation.x, validation.y, "MNIST-1D validation split (seed 0)"
    return evaluation.x, evaluation.y, evaluation.description


def default_calibration(sample_shape: tuple[int, ...]) -> np.ndarray | None:
    """The shipped calibration set for the built-in data's shape; None for any other model."""
    from mc.data.mnist1d import INPUT_SHAPE

    if tuple(sample_shape) == INPUT_SHAPE:
        from mc.data.calibration import make_calibration_set

        return make_calibration_set(512, seed=0)[0]  # byte-identical to calibration_data/mnist1d-train-512.npz
    return None


def quantize_onnx(
    request: QuantizeRequest,
    model: OnnxModel,
    output: Path,
    target: TargetProfile,
    calibration: np.ndarray | None,
    evaluation: EvaluationData,
    threads: int,
    progress: Progress,
    data_path: Path | None = None,
):
    """Quantize `model` into `output` as `request` asks; for auto, search first (measured on this
    host under `threads`) and keep the fastest candidate within budget, or fp32 with the reason.
    The outcome's sidecar holds the plan, the precision table and, for auto, every candidate."""
    from mc.passes import run_pass

    if request.mode != "auto":
        return run_pass(plan_for(request, target), model, output, calibration, evaluation, threads, progress)

    from mc.passes.quantize import keep_float
    from mc.quantization.search import SearchBudget, search

    budget = SearchBudget(max_accuracy_drop=request.max_accuracy_drop, min_agreement=request.min_agreement)
    preset = StaticStep(**static_preset_values(target, **request.preset_overrides()))
    selection_x, selection_y, selection = selection_data(model, evaluation, data_path)
    samples = calibration[:request.calibration_samples] if calibration is not None else None
    with tempfile.TemporaryDirectory(prefix="mc-auto-") as workdir:
        result = search(model.path, preset, samples, selection_x, selection_y, threads, budget, progress, Path(workdir))
        search_metrics = {"search": {"verdict": result.verdict, "selection_data": selection, "threads": threads,
                                     "target": target.name, "budget": budget.model_dump(mode="json"),
                                     "candidates": result.table(), "sensitivity": result.sensitivity}}
        if result.best.config is None:
            return keep_float(model, output, evaluation, threads, search_metrics)
        return run_pass(result.best.config, model, output, calibration, evaluation, threads, progress, search_metrics)
