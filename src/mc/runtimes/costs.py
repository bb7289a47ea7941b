"""What a model costs at batch 1, op by op (FLOPs and bytes moved), for the roofline estimate.

Read from the artifact a runtime opened: from the ONNX graph (per op, shapes from ONNX shape inference
at batch 1), from an OpenVINO IR (per op, the model reshaped to batch 1), or for a torch model from
torch's FLOP counter and its parameter bytes, one op per precision (an ExecuTorch program's counts
are made so when it is compiled, from its source module, and kept in its sidecar). Deferred by the
opener (`OpenedModel.costs`): only a bench off the target needs it.
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


def module_flops(module: Any, sample_shape: tuple[int, ...], int8_modules: Any = ()) -> dict[str, float]:
    """FLOPs of one sample through a torch module (torch's FLOP counter: convolutions, linears and
    attention matmuls as they run), by precision: the flops of the modules named in `int8_modules`
    (and of the modules inside them) are int8, the rest fp32."""
    from mc.models.stats import flop_counts

    int8 = tuple(int8_modules)
    total, by_module = flop_counts(module, sample_shape)
    # counted once, at the outermost int8 module (a module's count includes its children's)
    quantized = float(sum(flops for name, flops in by_module.items()
                          if name in int8 and not any(name.startswith(outer + ".") for outer in int8)))
    return {"int8": quantized, "fp32": total - quantized} if quantized else {"fp32": float(total)}


def module_costs(module: Any, sample_shape: tuple[int, ...], int8_modules: Any = ()) -> tuple[list[OpCost], list[str]]:
    """A torch model as one op per precision: its FLOPs (`module_flops`) and its parameter bytes
    (int8 modules' weights at a byte each)."""
    int8 = tuple(int8_modules)
    flops = module_flops(module, sample_shape, int8)
    bytes_by_precision = {"fp32": 4.0 * math.prod(sample_shape)}
    for name, parameter in module.named_parameters():
        quantized = any(name.startswith(outer + ".") for outer in int8) and parameter.dim() > 1
        key = "int8" if quantized else "fp32"
        bytes_by_precision[key] = bytes_by_precision.get(key, 0.0) + parameter.numel() * (1 if quantized else parameter.element_size())
    costs = [OpCost(f"model ({precision})", "torch", flops.get(precision, 0.0), bytes_by_precision.get(precision, 0.0), precision)
             for precision in ("int8", "fp32") if flops.get(precision) or bytes_by_precision.get(precision)]
    return costs, ["costed per precision as a whole (FLOPs from torch's FLOP counter: convolutions, linears, "
                   "attention matmuls; parameter bytes); no per-op split"]


def torch_costs(module: Any, sample_shape: tuple[int, ...]) -> tuple[list[OpCost], list[str]]:
    """A torch model (eager, fp32) as one op: its FLOPs and its parameter bytes."""
    return module_costs(module, sample_shape)


def recorded_costs(recorded: dict[str, Any] | None, what: str) -> tuple[list[OpCost], list[str]]:
    """The costs a compile pass wrote in an artifact's sidecar (`flops_by_precision`,
    `bytes_by_precision`, `notes`); none, with why, for an artifact built before mc recorded them."""
    if not recorded or not recorded.get("flops_by_precision"):
        return [], [f"no op counts in this {what}'s sidecar (compiled by an older mc): recompile it for its fraction of peak"]
    bytes_by = recorded.get("bytes_by_precision") or {}
    costs = [OpCost(f"model ({precision})", what, float(flops), float(bytes_by.get(precision, 0.0)), precision)
             for precision, flops in recorded["flops_by_precision"].items()]
    return costs, list(recorded.get("notes", []))


# OpenVINO op types with their FLOPs per output element, as for ONNX (MVN is its layer normalization)
IR_FLOPS_PER_ELEMENT = {**FLOPS_PER_ELEMENT, "SoftMax": FLOPS_PER_ELEMENT["Softmax"], "MVN": FLOPS_PER_ELEMENT["LayerNormalization"]}
IR_FREE_OPS = {  # layout, metadata, constants and quantization bookkeeping the CPU plugin folds into kernels
    "Parameter", "Result", "Constant", "Reshape", "Squeeze", "Unsqueeze", "ShapeOf", "Gather", "Concat",
    "Convert", "FakeQuantize", "Broadcast", "Transpose",
}
IR_INT8_TYPES = {"i8", "u8"}


def _element_type(output: Any) -> str:
    return str(output.get_element_type().get_type_name())


def _stored_int8(value: Any) -> bool:
    """A weight stored in 8 bits: an i8/u8 constant seen through the Convert, Subtract and Multiply of
    its dequantization, or a FakeQuantize of 256 levels."""
    node = value.get_node()
    for _ in range(6):
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return int(node.get_attributes().get("levels", 0)) <= 256
        if kind == "Constant":
            return _element_type(node.output(0)) in IR_INT8_TYPES
        if kind not in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose") or node.get_input_size() == 0:
            return False
        node = node.input_value(0).get_node()
    return False


def _quantized_activation(value: Any) -> bool:
    return value.get_node().get_type_name() == "FakeQuantize"


def ir_costs(path: Path, sample_shape: tuple[int, ...]) -> tuple[list[OpCost], list[str]]:
    """Per-op FLOPs and bytes of an OpenVINO IR at batch 1 (the model reshaped to one sample): MatMul
    and (group) convolutions at 2 x MACs, ScaledDotProductAttention as its two matmuls, other ops per
    output element as for ONNX. An op is int8 where the CPU plugin runs it in int8: its activation
    comes from a FakeQuantize and its weight is stored in 8 bits."""
    import openvino as ov

    model = ov.Core().read_model(str(path))
    model.reshape({model.inputs[0]: ov.PartialShape([1, *sample_shape])})

    def shape(value: Any) -> list[int] | None:
        partial = value.get_partial_shape()
        return None if partial.is_dynamic else [int(dim) for dim in partial.to_shape()]

    def tensor_bytes(value: Any) -> int:
        dims = shape(value) or []
        return math.prod(dims) * (1 if _element_type(value) in IR_INT8_TYPES or _stored_int8(value) else 4)

    costs: list[OpCost] = []
    unresolved: list[str] = []
    constant: set[int] = set()  # ops computing from constants alone (a weight's dequantization): folded when compiled
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        inputs = [op.input_value(index) for index in range(op.get_input_size())]
        if kind == "Constant" or (inputs and all(value.get_node().get_instance_id() in constant for value in inputs)):
            constant.add(op.get_instance_id())
            continue
        if kind in IR_FREE_OPS or op.get_output_size() == 0:
            continue
        out = shape(op.output(0))
        in_shapes = [shape(value) for value in inputs]
        if out is None or any(dims is None for dims in in_shapes):
            unresolved.append(op.get_friendly_name())
            continue
        elements = math.prod(out)
        precision = "fp32"
        if kind == "MatMul":
            left = in_shapes[0]
            inner = left[-2] if op.get_attributes().get("transpose_a") else left[-1]
            flops = 2.0 * elements * inner
        elif kind in ("Convolution", "GroupConvolution"):
            weight = in_shapes[1]
            flops = 2.0 * elements * math.prod(weight[2 if kind == "GroupConvolution" else 1:])
        elif kind == "ScaledDotProductAttention":
            query, key = in_shapes[0], in_shapes[1]
            flops = 2.0 * math.prod(query) * key[-2] + 2.0 * elements * key[-2]
        else:
            flops = float(elements * IR_FLOPS_PER_ELEMENT.get(kind, 1))
        if kind in ("MatMul", "Convolution", "GroupConvolution") and _quantized_activation(inputs[0]) and _stored_int8(inputs[1]):
            precision = "int8"
        moved = sum(tensor_bytes(value) for value in inputs) + tensor_bytes(op.output(0))
        costs.append(OpCost(op.get_friendly_name(), kind, flops, float(moved), precision))
    notes = [f"{len(unresolved)} op(s) without static shapes at batch 1 left out: {', '.join(unresolved[:5])}"] if unresolved else []
    return costs, notes
