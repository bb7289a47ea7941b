"""What a model costs at batch 1, op by op (FLOPs and bytes moved), for the roofline estimate.

Read from the artifact a runtime opened: from the ONNX graph (per op, shapes from ONNX shape inference
at batch 1), or for a torch model from its MACs (torch's FLOP counter) and its parameter bytes as a
single op. Deferred by the opener (`OpenedModel.costs`): only a bench off the target needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}  # onnx TensorProto


@dataclass(frozen=True)
class OpCost:
    name: str
    op_type: str
    flops: float
    bytes: float
    precision: Precision


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
