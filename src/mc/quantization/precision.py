"""What was quantized: a per-op precision table read from the quantized graph itself.

Dynamic and QOperator quantization replace a node by an integer kernel (MatMulInteger, QLinearConv,
...) named `<node>_quant`; QDQ keeps the float node and feeds it from DequantizeLinear nodes, which
ONNX Runtime fuses into an int8 kernel only when both its weights and activations are quantized.
"""

from __future__ import annotations

import ast
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

INTEGER_KERNELS = {
    "MatMulInteger": "MatMul", "DynamicQuantizeMatMul": "MatMul", "MatMulIntegerToFloat": "MatMul",
    "QLinearMatMul": "MatMul", "ConvInteger": "Conv", "QLinearConv": "Conv", "QGemm": "Gemm",
    "QAttention": "Attention", "DynamicQuantizeLSTM": "LSTM",
}
FLOAT_COMPUTE = {"Conv", "ConvTranspose", "MatMul", "Gemm", "GRU", "LSTM", "RNN", "Attention"}
QUANT_HELPERS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def module_names(model) -> dict[str, str]:
    """Node name -> the torch module it came from (the dynamo exporter's name scopes)."""
    names = {}
    for node in model.graph.node:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                try:
                    scopes = [scope for scope in ast.literal_eval(prop.value) if scope]
                except (ValueError, SyntaxError):
                    continue
                dotted = [scope for scope in scopes[:-1] if "." in scope or scope.isidentifier()]
                names[node.name] = dotted[-1] if dotted else (scopes[-1] if scopes else "")
    return names


def _weight_bytes(model) -> dict[str, int]:
    from onnx import TensorProto, numpy_helper

    totals: Counter = Counter()
    for initializer in model.graph.initializer:
        kind = TensorProto.DataType.Name(initializer.data_type).lower()
        totals[kind] += numpy_helper.to_array(initializer).nbytes
    return dict(totals)


def precision_table(quantized_path: Path, modules: dict[str, str], fp16: bool = False, fp16_kept: tuple[str, ...] = ()) -> dict[str, Any]:
    import onnx

    quantized = onnx.load(str(quantized_path))
    producers = {output: node for node in quantized.graph.node for output in node.output}
    initializers = {init.name for init in quantized.graph.initializer}

    rows = []
    for node in quantized.graph.node:
        if node.op_type in INTEGER_KERNELS:
            original = node.name[: -len("_quant")] if node.name.endswith("_quant") else node.name
            rows.append({"node": original, "op_type": INTEGER_KERNELS[node.op_type], "precision": "int8",
                         "kernel": node.op_type, "module": modules.get(original, "")})
        elif node.op_type in FLOAT_COMPUTE:
            inputs = [name for name in node.input if name]
            fed_by_dq = [producers.get(name) is not None and producers[name].op_type == "DequantizeLinear" for name in inputs[:2]]
            if fp16:
                precision = "fp32" if node.op_type in fp16_kept else "fp16"
            elif len(fed_by_dq) >= 2 and all(fed_by_dq):
                precision = "int8"
            elif any(fed_by_dq):
                precision = "int8 weights, fp32 compute"
            else:
                precision = "fp32"
            rows.append({"node": node.name, "op_type": node.op_type, "precision": precision,
                         "kernel": "QDQ" if precision == "int8" else node.op_type, "module": modules.get(node.name, "")})

    summary: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        summary[row["op_type"]][row["precision"]] += 1
    other = Counter(node.op_type for node in quantized.graph.node
                    if node.op_type not in FLOAT_COMPUTE and node.op_type not in INTEGER_KERNELS and node.op_type not in QUANT_HELPERS)
    weights = _weight_bytes(quantized)
    total = sum(weights.values()) or 1
    low_precision = sum(size for kind, size in weights.items() if kind in ("int8", "uint8", "float16"))
    return {
        "nodes": rows,
        "summary": {op: dict(counts) for op, counts in sorted(summary.items())},
        "other_ops": dict(sorted(other.items())),
        "quantize_nodes": sum(1 for node in quantized.graph.node if node.op_type in QUANT_HELPERS),
        "weight_bytes": weights,
        "weight_share_low_precision": low_precision / total,
        "initializers": len(initializers),
    }


def summary_line(table: dict[str, Any]) -> str:
    """'Conv 9/9 int8, MatMul 12/18 int8, Gemm 0/4 int8; 91% of weight bytes int8'."""
    parts = []
    for op, counts in table["summary"].items():
        quantized = sum(count for precision, count in counts.items() if precision in ("int8", "fp16"))
        label = "fp16" if "fp16" in counts else "int8"
        parts.append(f"{op} {quantized}/{sum(counts.values())} {label}")
    weight_only = sum(counts.get("int8 weights, fp32 compute", 0) for counts in table["summary"].values())
    text = ", ".join(parts) or "no compute ops"
    if weight_only:
        text += f" ({weight_only} with int8 weights only)"
    return f"{text}; {table['weight_share_low_precision']:.0%} of weight bytes low-precision"
