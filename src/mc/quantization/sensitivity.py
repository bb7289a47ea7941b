"""Which quantized nodes hurt most: per-node error between float and quantized activations.

Both models expose the outputs of every quantized compute node (dynamic and QDQ quantization keep
the original output tensor names). A node's sensitivity is the signal-to-quantization-noise ratio
it loses locally: SQNR of its input (the error it inherits) minus SQNR of its output (the error it
passes on), in dB. Ranking by what a node adds, not by what it inherits, keeps the blame on the
node that causes the error, not on everything downstream of it.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from mc.quantization.precision import INTEGER_KERNELS, FLOAT_COMPUTE
from mc.runtimes import open_onnx


def _sqnr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    signal = float(np.linalg.norm(reference))
    noise = float(np.linalg.norm(reference.astype(np.float64) - candidate.astype(np.float64)))
    if noise == 0.0:
        return math.inf
    return 20.0 * math.log10(max(signal, 1e-12) / noise)


Probe = tuple[str, str]  # (tensor name in the float graph, the tensor holding the same value in the quantized graph)


def _quantized_nodes(quantized_model) -> dict[str, tuple[Probe, list[Probe]]]:
    """Original node name -> (its output probe, its activation input probes), for quantized nodes.

    Dynamic: DynamicQuantizeLinear(x) -> MatMulInteger -> Cast/Mul -> the float output name, kept.
    QDQ: x -> QuantizeLinear -> DequantizeLinear -> node -> QuantizeLinear -> DequantizeLinear; the
    quantizer may fold a following Relu into the output range, so the value downstream sees is the
    DequantizeLinear output, compared with the float tensor of the node's (renamed) output.
    """
    nodes = list(quantized_model.graph.node)
    producers = {output: node for node in nodes for output in node.output}
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {init.name for init in quantized_model.graph.initializer}
    found: dict[str, tuple[Probe, list[Probe]]] = {}
    for node in nodes:
        if node.op_type in INTEGER_KERNELS:
            original = node.name[: -len("_quant")] if node.name.endswith("_quant") else node.name
            tensor = node.output[0]
            for _ in range(4):  # follow the scale-fixing chain to the tensor the float graph also has
                follow = [n for n in consumers.get(tensor, []) if n.op_type in ("Cast", "Mul", "Add")]
                if len(follow) != 1:
                    break
                tensor = follow[0].output[0]
            activation = node.input[0]
            source = producers.get(activation)
            if source is not None and source.op_type == "DynamicQuantizeLinear":
                activation = source.input[0]
            found[original] = ((tensor, tensor), [(activation, activation)])
        elif node.op_type in FLOAT_COMPUTE:
            feeds = [producers.get(name) for name in node.input[:2] if name]
            if not feeds or not all(feed is not None and feed.op_type == "DequantizeLinear" for feed in feeds):
                continue
            inputs: list[Probe] = []
            for feed in feeds:
                quantize = producers.get(feed.input[0])
                if quantize is not None and quantize.op_type == "QuantizeLinear" and quantize.input[0] not in initializers:
                    inputs.append((quantize.input[0], feed.output[0]))
            output = node.output[0]
            quantize_out = next((n for n in consumers.get(output, []) if n.op_type == "QuantizeLinear"), None)
            dequantize_out = next((n for n in consumers.get(quantize_out.output[0], []) if n.op_type == "DequantizeLinear"), None) if quantize_out else None
            found[node.name] = ((output, dequantize_out.output[0] if dequantize_out else output), inputs)
    return found


def _with_outputs(model_path: Path, tensors: list[str], target: Path) -> list[str]:
    import onnx

    model = onnx.load(str(model_path))
    existing = {output.name for output in model.graph.output}
    available = {output for node in model.graph.node for output in node.output} | {i.name for i in model.graph.input}
    added = [name for name in tensors if name in available and name not in existing]
    for name in added:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(target))
    return added


def rank_sensitive_nodes(float_path: Path, quantized_path: Path, samples: np.ndarray, threads: int) -> list[dict]:
    """Quantized nodes, most harmful first, with the dB of SQNR each one loses."""
    import onnx

    nodes = _quantized_nodes(onnx.load(str(quantized_path)))
    probes = [probe for output, inputs in nodes.values() for probe in [output, *inputs]]
    with tempfile.TemporaryDirectory(prefix="mc-sensitivity-") as workdir:
        float_probe, quant_probe = Path(workdir) / "float.onnx", Path(workdir) / "quant.onnx"
        float_names = _with_outputs(float_path, sorted({f for f, _ in probes}), float_probe)
        quant_names = _with_outputs(quantized_path, sorted({q for _, q in probes}), quant_probe)
        values = {}
        for label, probe_path, names in (("float", float_probe, float_names), ("quant", quant_probe, quant_names)):
            predictor = open_onnx(probe_path, threads=threads)
            outputs = predictor.session.run(names, {predictor.input_name: samples})
            values[label] = dict(zip(names, outputs))

    def sqnr(probe: Probe) -> float | None:
        float_name, quant_name = probe
        if float_name not in values["float"] or quant_name not in values["quant"]:
            return None
        return _sqnr_db(values["float"][float_name], values["quant"][quant_name])

    ranked = []
    for node, (output, inputs) in nodes.items():
        sqnr_out = sqnr(output)
        if sqnr_out is None:
            continue
        inherited = [value for value in (sqnr(probe) for probe in inputs) if value is not None]
        sqnr_in = min(inherited) if inherited else math.inf
        ceiling = min(sqnr_in, 80.0)  # an exact input counts as 80 dB, the float32 noise floor for these models
        ranked.append({
            "node": node,
            "sqnr_out_db": round(min(sqnr_out, 200.0), 2),
            "sqnr_in_db": None if math.isinf(sqnr_in) else round(sqnr_in, 2),
            "lost_db": round(max(0.0, ceiling - min(sqnr_out, ceiling)), 2),
        })
    ranked.sort(key=lambda row: row["lost_db"], reverse=True)
    return ranked
