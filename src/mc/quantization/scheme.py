"""Quantization schemes as typed data. A plan is an ordered list of steps (e.g. static QDQ of the
convolutions, then dynamic int8 of the weight MatMuls), so the auto search can compose what ONNX
Runtime's one-call APIs cannot."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

IntType = Literal["int8", "uint8"]


class StaticStep(BaseModel):
    """Static int8: activation ranges from calibration data, QDQ (or QOperator) nodes in the graph."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["static"] = "static"
    op_types: tuple[str, ...] | None = Field(None, description="op types to quantize; None = all ORT supports")
    exclude_nodes: tuple[str, ...] = ()
    format: Literal["qdq", "qoperator"] = "qdq"
    activation_type: IntType = "int8"
    weight_type: IntType = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    matmul_const_b_only: bool = Field(True, description="leave activation x activation MatMuls (attention) in float")

    def label(self) -> str:
        ops = "+".join(self.op_types) if self.op_types else "all"
        signs = "".join("U8" if t == "uint8" else "S8" for t in (self.activation_type, self.weight_type))
        extras = [self.calibration_method, "per-channel" if self.per_channel else "per-tensor"]
        if self.reduce_range:
            extras.append("reduce_range")
        if self.exclude_nodes:
            extras.append(f"{len(self.exclude_nodes)} node(s) fp32")
        return f"static {self.format.upper()} {signs} {ops} ({', '.join(extras)})"

    def short_label(self) -> str:
        text = f"static {'+'.join(self.op_types) if self.op_types else 'all'}"
        if self.calibration_method != "minmax":
            text += f" {self.calibration_method}"
        if not self.per_channel:
            text += " per-tensor"
        return text + (f" -{len(self.exclude_nodes)} nodes" if self.exclude_nodes else "")


class DynamicStep(BaseModel):
    """Dynamic int8: weights quantized offline, activations per call (no calibration data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["dynamic"] = "dynamic"
    op_types: tuple[str, ...] | None = Field(("MatMul", "Gemm"), description="never ConvInteger by default: slow on CPUs")
    exclude_nodes: tuple[str, ...] = ()
    weight_type: IntType = "int8"
    per_channel: bool = False
    reduce_range: bool = False
    matmul_const_b_only: bool = True

    def label(self) -> str:
        ops = "+".join(self.op_types) if self.op_types else "all"
        extras = ["per-channel" if self.per_channel else "per-tensor"]
        if self.reduce_range:
            extras.append("reduce_range")
        if self.exclude_nodes:
            extras.append(f"{len(self.exclude_nodes)} node(s) fp32")
        return f"dynamic {ops} ({', '.join(extras)})"

    def short_label(self) -> str:
        text = f"dynamic {'+'.join(self.op_types) if self.op_types else 'all'}" + (" per-channel" if self.per_channel else "")
        return text + (f" -{len(self.exclude_nodes)} nodes" if self.exclude_nodes else "")


class Float16Step(BaseModel):
    """float16 weights and compute for GPU targets; numerically sensitive ops stay in float32."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["fp16"] = "fp16"
    keep_io_types: bool = True
    keep_fp32_ops: tuple[str, ...] = ("LayerNormalization", "Softmax", "ReduceMean", "Sigmoid", "Exp", "Pow", "Sqrt", "Div")

    def label(self) -> str:
        return f"fp16 (fp32 kept: {', '.join(self.keep_fp32_ops)})"

    def short_label(self) -> str:
        return "fp16"


Step = Annotated[Union[StaticStep, DynamicStep, Float16Step], Field(discriminator="kind")]


class QuantizePlan(BaseModel):
    """An exact quantization plan: steps applied in order to an ONNX model (what the `quantize`
    pass builds from its config and the target's preset, or what its auto search chose)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: tuple[Step, ...] = Field(min_length=1)
    preprocess: bool = Field(True, description="ORT's quant_pre_process (shape inference, graph optimisation)")
    calibration_samples: int = Field(256, ge=16, le=100_000)

    @model_validator(mode="after")
    def _fp16_alone(self) -> "QuantizePlan":
        if any(step.kind == "fp16" for step in self.steps) and len(self.steps) > 1:
            raise ValueError("fp16 conversion cannot be combined with int8 steps in one plan")
        return self

    def label(self) -> str:
        return " + ".join(step.label() for step in self.steps)

    def short_label(self) -> str:
        return " + ".join(step.short_label() for step in self.steps)

    @property
    def needs_calibration(self) -> bool:
        return any(step.kind == "static" for step in self.steps)
