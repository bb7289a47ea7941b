"""The passes a recipe can chain, keyed as recipes write them, with what each takes and gives.

A recipe step's config is the pass's own typed config where the pass takes one as is (export,
prune, compile); quantize takes the CLI's vocabulary (`QuantizeRequest`: a mode and the target's
preset), and distill adds who the student is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, model_validator

from mc.passes.compile import CompileConfig
from mc.passes.distill import DistillConfig
from mc.passes.export import ExportConfig
from mc.passes.prune import PruneConfig
from mc.quantization.request import QuantizeRequest

Stage = Literal["torch", "onnx", "compiled"]


class DistillStep(DistillConfig):
    """Distil the chain's model (the teacher) into a student: a zoo name trained from scratch, a
    checkpoint, or the teacher's own family at a width multiplier."""

    student: str | None = None
    width_mult: float | None = None

    @model_validator(mode="after")
    def _one_student(self) -> "DistillStep":
        if (self.student is None) == (self.width_mult is None):
            raise ValueError("give exactly one of student (a zoo name or checkpoint) and width_mult")
        if self.width_mult is not None and not 0 < self.width_mult < 1:
            raise ValueError(f"width_mult {self.width_mult}: a student is narrower than its teacher, pick a value in (0, 1)")
        return self

    def distill_config(self) -> DistillConfig:
        return DistillConfig(**self.model_dump(exclude={"student", "width_mult"}))


def step_types() -> dict[str, type[BaseModel]]:
    """Recipe key -> the config type its step is validated against."""
    return {"export": ExportConfig, "prune": PruneConfig, "distill": DistillStep, "quantize": QuantizeRequest,
            "compile": CompileConfig}


def accepted_stages(pass_name: str, config: Any) -> tuple[Stage, ...]:
    """Which kinds of model a step takes."""
    if pass_name in ("export", "prune", "distill"):
        return ("torch",)
    if pass_name == "quantize":
        return ("torch",) if config.backend == "torch" else ("onnx",)
    # compile: Torch-TensorRT and torch.compile take a torch model; the ORT providers take ONNX (or export torch first)
    return ("torch", "onnx") if config.takes_onnx else ("torch",)


def produced_stage(pass_name: str, config: Any, given: Stage) -> Stage:
    if pass_name == "export":
        return "onnx"
    if pass_name == "compile":
        return "compiled"
    return given


def stage_of_source(model: str) -> Stage:
    return "onnx" if model.endswith(".onnx") else "torch"


STAGE_NAMES = {"torch": "a torch model", "onnx": "an ONNX model", "compiled": "a compiled artifact"}

STAGE_HINT = {
    "torch": "it needs a torch model: put it before `export`",
    "onnx": "it needs an ONNX model: put `export` before it (or start from an .onnx model)",
}
