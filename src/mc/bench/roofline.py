"""A roofline estimate of a model's batch-1 latency on a target that is not this machine.

Each op costs max(FLOPs / compute peak, bytes / memory bandwidth) on a machine; the sum over ops is
the roofline time, a floor no real runtime reaches on tiny models (dispatch, caches, threads). So
the estimate is calibrated: the efficiency a runtime reaches here is measured (the host's roofline
time, from the x86-cpu profile's peaks, over the measured host latency) and assumed to carry over:
    estimated target latency = target roofline time / host efficiency.
That is an assumption, not a measurement, and the result says so wherever it is shown.

Costs come from the ONNX graph (per op, shapes from ONNX shape inference at batch 1), or for a torch
model from its MACs (torch's FLOP counter) and its parameter bytes as a single op.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Precision = str  # "fp32" | "fp16" | "int8"

INT8_OPS = {"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger"}
CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> index of the weight input
MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"}
FREE_OPS = {  # views, metadata and the Q/DQ pairs a runtime fuses into int8 kernels: no work of their own
    "Shape", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Constant", "ConstantOfShape",
    "Size", "Cast", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
}
FLOPS_PER_ELEMENT = {"Softmax": 5, "LayerNormalization": 8, "Sigmoid": 4, "Tanh": 4, "Erf": 4, "Gelu": 8, "Exp": 4}
PEAK_KEYS = {"fp32": "fp32_gflops_per_core", "fp16": "fp16_gflops_per_core", "int8": "int8_gops_per_core"}
BANDWIDTH_KEY = "memory_bandwidth_gbs"
DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}  # onnx TensorProto


@dataclass(frozen=True)
class OpCost:
    name: str
    op_type: str
    flops: float
    bytes: float
    precision: Precision


@dataclass
class Roofline:
    """Roofline time of a list of ops on one machine."""

    seconds: float
    compute_bound_ops: int
    memory_bound_ops: int
    notes: list[str] = field(default_factory=list)


class PeaksMissing(Exception):
    """A profile lacks the peak figures a roofline needs; the estimate is then left out, with why."""


def _peak(peaks: dict[str, float], precision: Precision, profile: str, notes: list[str]) -> float:
    key = PEAK_KEYS[precision]
    if key in peaks:
        return peaks[key]
    if PEAK_KEYS["fp32"] in peaks:
        note = f"{profile}: no {key}; {precision} ops counted at the fp32 peak"
        if note not in notes:
            notes.append(note)
        return peaks[PEAK_KEYS["fp32"]]
    raise PeaksMissing(f"the {profile} profile has no {PEAK_KEYS['fp32']}")


def roofline(costs: list[OpCost], peaks: dict[str, float], threads: int, profile: str) -> Roofline:
    """Sum over ops of max(compute time, memory time), with compute peaks per core x `threads`."""
    if BANDWIDTH_KEY not in peaks:
        raise PeaksMissing(f"the {profile} profile has no {BANDWIDTH_KEY}")
    notes: list[str] = []
    bandwidth = peaks[BANDWIDTH_KEY] * 1e9
    total = 0.0
    compute_bound = memory_bound = 0
    for cost in costs:
        compute = cost.flops / (_peak(peaks, cost.precision, profile, notes) * 1e9 * threads)
        memory = cost.bytes / bandwidth
        if compute >= memory:
            compute_bound += 1
        else:
            memory_bound += 1
        total += max(compute, memory)
    return Roofline(total, compute_bound, memory_bound, notes)


def _numel(shape: list[int] | None) -> int | None:
    if shape is None or any(dim <= 0 for dim in shape):
        return None
    return math.prod(shape)


def onnx_costs(path: Path) -> tuple[list[OpCost], list[str]]:
    """Per-op FLOPs and bytes of an ONNX model at batch 1 (symbolic batch axes set to 1).

    Returns (costs, notes); ops whose shapes shape inference cannot resolve are left out and noted.
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    initializers = {init.name: init for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    dtypes: dict[str, int] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim]
        dtypes[value.name] = tensor.elem_type
    for name, init in initializers.items():
        shapes[name] = list(init.dims)
        dtypes[name] = init.data_type
    producers = {output: node for node in inferred.graph.node for output in node.output}

    def stored_dtype(name: str) -> int:
        """The dtype a tensor is stored in, seen through a DequantizeLinear of a quantized tensor."""
        node = producers.get(name)
        if node is not None and node.op_type == "DequantizeLinear":
            return dtypes.get(node.input[0], dtypes.get(name, 1))
        return dtypes.get(name, 1)

    def tensor_bytes(name: str) -> int | None:
        count = _numel(shapes.get(name))
        return None if count is None else count * DTYPE_BYTES.get(stored_dtype(name), 4)

    costs: list[OpCost] = []
    unresolved: list[str] = []
    for index, node in enumerate(inferred.graph.node):
        if node.op_type in FREE_OPS:
            continue
        name = node.name or f"{node.op_type}_{index}"
        outputs = [output for output in node.output if output]
        out_elements = sum(_numel(shapes.get(output)) or 0 for output in outputs)
        sizes = [tensor_bytes(tensor) for tensor in [*node.input, *outputs] if tensor]
        if not outputs or out_elements == 0 or any(size is None for size in sizes):
            unresolved.append(name)
            continue
        inputs = [tensor for tensor in node.input]
        if node.op_type in CONV_OPS:
            weight = shapes.get(inputs[CONV_OPS[node.op_type]])
            flops = 2.0 * out_elements * math.prod(weight[1:]) if weight and len(weight) > 1 else None
        elif node.op_type in MATMUL_OPS:
            left = shapes.get(inputs[0])
            transposed = node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute)
            inner = (left[0] if transposed else left[-1]) if left else None
            flops = 2.0 * out_elements * inner if inner and inner > 0 else None
        else:
            flops = float(out_elements * FLOPS_PER_ELEMENT.get(node.op_type, 1))
        if flops is None:
            unresolved.append(name)
            continue
        weight_from_dq = node.op_type in CONV_OPS or node.op_type in MATMUL_OPS
        quantized_weights = weight_from_dq and any(
            producers.get(tensor) is not None and producers[tensor].op_type == "DequantizeLinear"
            and stored_dtype(tensor) in (2, 3)
            for tensor in inputs[1:2]
        )
        output_dtype = dtypes.get(outputs[0], 1)
        if node.op_type in INT8_OPS or quantized_weights:
            precision = "int8"
        elif output_dtype in (10, 16):
            precision = "fp16"
        else:
            precision = "fp32"
        costs.append(OpCost(name, node.op_type, flops, float(sum(sizes)), precision))  # type: ignore[arg-type]
    notes = [f"{len(unresolved)} op(s) without inferred shapes left out: {', '.join(unresolved[:5])}"] if unresolved else []
    return costs, notes


def torch_costs(module: Any, sample_shape: tuple[int, ...]) -> tuple[list[OpCost], list[str]]:
    """A torch model as one op: 2 x MACs (torch's FLOP counter) and its parameter bytes."""
    from mc.models.stats import count_macs

    macs = count_macs(module, sample_shape)
    parameter_bytes = sum(parameter.numel() * parameter.element_size() for parameter in module.parameters())
    input_bytes = 4 * math.prod(sample_shape)
    return (
        [OpCost("model", "torch", 2.0 * macs, float(parameter_bytes + input_bytes), "fp32")],
        ["torch model costed as a whole (MACs from torch's FLOP counter, parameter bytes); no per-op split"],
    )


def summarize_costs(costs: list[OpCost]) -> dict[str, Any]:
    by_precision: dict[str, float] = {}
    for cost in costs:
        by_precision[cost.precision] = by_precision.get(cost.precision, 0.0) + cost.flops
    return {
        "ops": len(costs),
        "flops": sum(cost.flops for cost in costs),
        "bytes": sum(cost.bytes for cost in costs),
        "flops_by_precision": by_precision,
    }


def estimate_target_latency(
    costs: list[OpCost],
    measured_host_ms: float,
    host_peaks: dict[str, float],
    host_threads: int,
    target_peaks: dict[str, float],
    target_threads: int,
    target_name: str,
    host_profile: str = "x86-cpu",
) -> dict[str, Any]:
    """The calibrated estimate, or {"model_latency_ms": None, "reason": ...} when a profile lacks peaks."""
    try:
        host = roofline(costs, host_peaks, host_threads, host_profile)
        target = roofline(costs, target_peaks, target_threads, target_name)
    except PeaksMissing as missing:
        return {"model_latency_ms": None, "reason": str(missing)}
    if host.seconds <= 0 or measured_host_ms <= 0:
        return {"model_latency_ms": None, "reason": "the model has no counted work"}
    efficiency = host.seconds * 1e3 / measured_host_ms
    return {
        "model_latency_ms": target.seconds * 1e3 / efficiency,
        "efficiency": efficiency,
        "host_roofline_ms": host.seconds * 1e3,
        "target_roofline_ms": target.seconds * 1e3,
        "measured_host_ms": measured_host_ms,
        "host_threads": host_threads,
        "target_threads": target_threads,
        "host_profile": host_profile,
        "ops": {"host": asdict(host), "target": asdict(target)},
        "reason": None,
    }
