"""The `executorch` backend: torch.export, then ExecuTorch's edge lowering with the XNNPACK delegate,
saved as a `.pte` program (PyTorch's own edge runtime: ARM NEON / dot-product kernels on a Pi, AVX
on x86).

- fp32: `to_edge_transform_and_lower(..., partitioner=[XnnpackPartitioner()])` on the exported model.
- int8: PT2E (torchao.quantization.pt2e): `prepare_pt2e` with ExecuTorch's XNNPACKQuantizer
  (symmetric, per-channel weights), calibrated on real samples (`static`), or with activations
  quantized per call (`dynamic`: XNNPACK quantizes linear layers this way); `convert_pt2e`, then the
  same lowering. Modules named in `fp32_modules` stay fp32 (the quantizer's module-name filter).
- The batch axis is dynamic (traced at batch 2: a batch-1 example specialises it) where the model
  lowers that way; otherwise the program is exported at batch 1 and the runtime runs per sample.
- What XNNPACK did not take stays as ExecuTorch's portable ops: the delegation report counts the
  delegated subgraphs and names every remaining edge op kind (sidecar and CLI).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from mc.compilation._backend import BuildRequest, Built, CompileBackend, register_backend
from mc.errors import InputError
from mc.runtimes.executorch import INSTALL, RUNTIME, largest_batch, missing, open_program

if TYPE_CHECKING:
    from torch import nn

CALIBRATION_BATCH = 32
# ExecuTorch plans every tensor's memory ahead of time for the batch axis's upper bound: a cap keeps
# a program's planned memory small (a larger batch is split by the runtime)
MAX_PLANNED_BATCH = 256
DELEGATE = "executorch_call_delegate"
_EDGE_OP = re.compile(r"<EdgeOpOverload: ([^>]+)>")


def delegation_report(edge_program: Any) -> dict[str, Any]:
    """Delegated subgraphs vs edge ops left outside the delegate, by kind (getitem and symbolic size
    arithmetic are bookkeeping, not compute, and are not counted)."""
    delegated = 0
    remaining: Counter[str] = Counter()
    for node in edge_program.graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if DELEGATE in (name, str(node.target)):
            delegated += 1
            continue
        match = _EDGE_OP.match(str(node.target))
        if match:
            remaining[match.group(1)] += 1
    return {
        "delegate": "XnnpackBackend",
        "delegated_subgraphs": delegated,
        "non_delegated_ops": int(sum(remaining.values())),
        "non_delegated_kinds": dict(sorted(remaining.items(), key=lambda item: (-item[1], item[0]))),
    }


def _check_module_names(module: "nn.Module", names: tuple[str, ...]) -> None:
    known = {name for name, _ in module.named_modules() if name}
    unknown = [name for name in names if name not in known]
    if unknown:
        some = ", ".join(sorted(known, key=len)[:8])
        raise InputError(f"fp32 modules {', '.join(unknown)} are not modules of this model (some that are: {some})")


def modules_to_quantize(module: "nn.Module", fp32: tuple[str, ...]) -> list[str]:
    """The fewest module names that cover every module outside `fp32`: a module kept in fp32, or one
    holding such a module, is split into its children (its own ops between them stay fp32)."""
    keep = set(fp32)
    chosen: list[str] = []

    def visit(prefix: str, current: "nn.Module") -> None:
        for name, child in current.named_children():
            qualified = f"{prefix}.{name}" if prefix else name
            if qualified in keep:
                continue
            if any(other.startswith(qualified + ".") for other in keep):
                visit(qualified, child)
            else:
                chosen.append(qualified)

    visit("", module)
    return chosen


def _quantize(module: "nn.Module", example: Any, dynamic_shapes: Any, request: BuildRequest) -> "nn.Module":
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    dynamic = request.int8_mode == "dynamic"
    quantizer = XNNPACKQuantizer()
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    if request.fp32_modules:
        # XNNPACKQuantizer refuses `set_module_name(name, None)` ("not supported yet"): quantize by
        # name instead every module that neither is nor holds one to keep in fp32
        for name in modules_to_quantize(module, request.fp32_modules):
            quantizer.set_module_name(name, config)
    else:
        quantizer.set_global(config)
    graph = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes).module()
    prepared = prepare_pt2e(graph, quantizer)
    samples = request.calibration if request.calibration is not None and not dynamic else np.asarray(example)
    with torch.no_grad():
        for start in range(0, len(samples), CALIBRATION_BATCH):
            batch = samples[start : start + CALIBRATION_BATCH]
            if dynamic_shapes is None:  # exported at batch 1: calibrate sample by sample
                for row in range(len(batch)):
                    prepared(torch.from_numpy(np.ascontiguousarray(batch[row : row + 1], dtype=np.float32)))
            else:
                prepared(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
    return convert_pt2e(prepared)


def _lower(module: "nn.Module", request: BuildRequest, dynamic: bool) -> tuple[bytes, dict[str, Any]]:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass

    shape = request.source.sample_shape
    example = torch.zeros((2 if dynamic else 1, *shape))
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=planned_batch(request))},) if dynamic else None
    module = module.eval()
    if request.precision == "int8":
        module = _quantize(module, example, dynamic_shapes, request)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    report = delegation_report(edge.exported_program())
    # memory planned for the batch axis's upper bound (the default plans for the example's batch)
    config = ExecutorchBackendConfig(sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass())
    return edge.to_executorch(config).buffer, report


def planned_batch(request: BuildRequest) -> int:
    return min(request.max_batch, MAX_PLANNED_BATCH)


def build(request: BuildRequest) -> Built:
    import copy

    assert request.module is not None
    if request.fp32_modules:
        _check_module_names(request.module, request.fp32_modules)
    pristine = copy.deepcopy(request.module)
    notes: list[str] = []
    try:
        buffer, report = _lower(request.module, request, dynamic=True)
        batch: list[int] | None = [1, planned_batch(request)]
    except InputError:
        raise
    except Exception as error:  # a model whose batch axis does not stay symbolic: a batch-1 program
        from mc.errors import root_cause

        notes.append(f"exported at batch 1 (a dynamic batch did not lower: {root_cause(error)}); the runtime runs per sample")
        buffer, report = _lower(pristine, request, dynamic=False)
        batch = None
    request.output.write_bytes(buffer)
    settings: dict[str, Any] = {
        "lowering": "torch.export -> to_edge_transform_and_lower (XnnpackPartitioner)",
        "dynamic_batch": batch,
        "delegation": report,
        "quantization": None if request.precision == "fp32" else {
            "flow": "PT2E (torchao.quantization.pt2e)", "quantizer": "XNNPACKQuantizer",
            "config": f"symmetric, per-channel weights, {request.int8_mode} activations",
            "calibration_samples": int(len(request.calibration)) if request.calibration is not None and request.int8_mode == "static" else 0,
            "fp32_modules": list(request.fp32_modules),
        },
        "notes": notes,
    }
    predictor = open_program(request.output, threads=None, max_batch=batch[1] if batch else None)
    if batch:
        usable = largest_batch(predictor, request.source.sample_shape, batch[1])
        if usable < batch[1]:
            notes.append(f"ExecuTorch planned memory for batches up to {usable} (exported up to {batch[1]}): larger batches are split")
        batch[1] = predictor.max_batch = usable
    return Built(predictor, settings)


def _available(precision: str, device: str) -> str | None:
    return missing(quantize=precision == "int8")


register_backend(CompileBackend(
    name="executorch", runtime=RUNTIME, suffix=".pte", kind="executorch-program", precisions=("fp32", "int8"),
    devices=("cpu",), extra=INSTALL, check_available=_available, build=build, artifact_kind="executorch",
    description="ExecuTorch with the XNNPACK delegate (int8: PT2E with the XNNPACK quantizer)",
    int8_modes=("static", "dynamic"), options=("fp32_modules",),
))
