"""The `executorch` backend: torch.export, then ExecuTorch's edge lowering with the XNNPACK delegate,
saved as a `.pte` program (PyTorch's own edge runtime: ARM NEON / dot-product kernels on a Pi, AVX
on x86).

- fp32: `to_edge_transform_and_lower(..., partitioner=[XnnpackPartitioner()])` on the exported model.
- int8: PT2E (torchao.quantization.pt2e): `prepare_pt2e` with ExecuTorch's XNNPACKQuantizer
  (symmetric, per-channel weights), calibrated on real samples (`static`), or with activations
  quantized per call (`dynamic`: XNNPACK quantizes linear layers this way); `convert_pt2e`, then the
  same lowering. Modules named in `fp32_modules` stay fp32 (the quantizer's module-name filter), and
  so do linear and convolution modules too small to be layers (`tail_modules`).
- int8 within an accuracy budget (`max_accuracy_drop`): the whole model lowered first; if its accuracy
  on the selection data (a validation split, never the test set) misses the budget, mc's sensitivity
  ranking for PT2E (each linear/convolution module quantized alone, the rest fp32, ranked by the SQNR
  of the model's logits against fp32) keeps the 1, 2, 4, 8 most sensitive modules in fp32 until it
  fits; the ranking and every try are in the sidecar.
- The batch axis is dynamic (traced at batch 2: a batch-1 example specialises it) where the model
  lowers that way; otherwise the program is exported at batch 1 and the runtime runs per sample.
  `max_batch` 1 asks for a batch-1 program outright (static shapes, what the real-time pipeline
  runs: one frame a call); larger batches then run a sample at a time.
- ExecuTorch's own XNNPACK transform passes run before partitioning (`get_transform_passes`: the
  removal of `expand_copy` nodes that change no shape, which `to_edge_transform_and_lower` does not
  apply by default). A batched matmul over 4-D attention tensors decomposes into such expands, left
  outside the delegate as portable copies: on mobile-base at batch 1 they took 9% of the time
  (perf), and removing them made the int8 program 1.18x faster.
- What XNNPACK did not take stays as ExecuTorch's portable ops: the delegation report counts the
  delegated subgraphs and names every remaining edge op kind (sidecar and CLI).
"""

from __future__ import annotations

import dataclasses
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
FALLBACK_STEPS = (1, 2, 4, 8)  # the most sensitive modules kept in fp32, tried in turn within an accuracy budget
RANKING_SAMPLES = 256  # selection samples the sensitivity ranking compares logits on
RANKING_CALIBRATION = 64  # calibration samples for each module's ranking run (the lowered model uses them all)
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


def _quantized_module_types() -> tuple[type, ...]:
    from torch import nn

    return (nn.Linear, nn.Conv1d, nn.Conv2d)


def _quantize(module: "nn.Module", example: Any, dynamic_shapes: Any, request: BuildRequest,
              only: tuple[str, ...] | None = None) -> "nn.Module":
    """The PT2E-quantized module: every module but `request.fp32_modules`, or only the modules `only` names."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    dynamic = request.int8_mode == "dynamic"
    quantizer = XNNPACKQuantizer()
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    if only is not None:
        for name in only:
            quantizer.set_module_name(name, config)
    else:
        quantizer.set_global(config)
        if request.fp32_modules:
            # XNNPACKQuantizer refuses `set_module_name(name, None)` ("not supported yet"); its filter
            # function applies to every annotation: the nodes of the modules kept in fp32 fail it
            from torchao.quantization.pt2e.quantizer import get_module_name_filter

            kept = [get_module_name_filter(name) for name in request.fp32_modules]
            quantizer.set_filter_function(lambda node: not any(inside(node) for inside in kept))
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
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()], transform_passes=transform_passes())
    report = delegation_report(edge.exported_program())
    # memory planned for the batch axis's upper bound (the default plans for the example's batch)
    config = ExecutorchBackendConfig(sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass())
    return edge.to_executorch(config).buffer, report


def planned_batch(request: BuildRequest) -> int:
    return min(request.max_batch, MAX_PLANNED_BATCH)


def transform_passes() -> list[Any]:
    """ExecuTorch's XNNPACK transform passes (its `utils.configs`), for the edge program before it is
    partitioned; none where this ExecuTorch has no such list."""
    try:
        from executorch.backends.xnnpack.utils.configs import get_transform_passes
    except ImportError:
        return []
    return list(get_transform_passes())


def _lower_either(module: "nn.Module", request: BuildRequest, notes: list[str]) -> tuple[bytes, dict[str, Any], list[int] | None]:
    """Lowered with a dynamic batch axis where the model allows, else at batch 1; (program, report, batch range)."""
    import copy

    if planned_batch(request) == 1:  # asked for: a batch-1 program, static shapes
        buffer, report = _lower(module, request, dynamic=False)
        return buffer, report, None
    pristine = copy.deepcopy(module)
    try:
        buffer, report = _lower(module, request, dynamic=True)
        return buffer, report, [1, planned_batch(request)]
    except InputError:
        raise
    except Exception as error:  # a model whose batch axis does not stay symbolic: a batch-1 program
        from mc.errors import root_cause

        notes.append(f"exported at batch 1 (a dynamic batch did not lower: {root_cause(error)}); the runtime runs per sample")
        buffer, report = _lower(pristine, request, dynamic=False)
        return buffer, report, None


def _logits(module: "nn.Module", x: np.ndarray, batch: int | None = None) -> np.ndarray:
    """The model's first output on `x`, `batch` samples a call (all at once: None)."""
    import torch

    parts = []
    step = batch or len(x)
    with torch.no_grad():
        for start in range(0, len(x), step):
            outputs = module(torch.from_numpy(np.ascontiguousarray(x[start : start + step], dtype=np.float32)))
            first = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
            parts.append(first.detach().numpy().astype(np.float64).reshape(-1, first.shape[-1] if first.dim() > 1 else 1))
    return np.concatenate(parts).reshape(len(x), -1)


def rank_sensitive_modules(request: BuildRequest, x: np.ndarray) -> list[dict[str, Any]]:
    """mc's sensitivity ranking for PT2E: each linear or convolution module quantized alone (the rest
    fp32, calibrated on RANKING_CALIBRATION samples), scored by the SQNR (dB) of the logits against
    fp32 on `x`; the most sensitive first (a module the quantizer leaves alone scores infinity)."""
    import copy
    import dataclasses

    import torch

    assert request.module is not None
    module = request.module.eval()
    reference = _logits(module, x)
    example = torch.zeros((2, *request.source.sample_shape))
    dynamic: Any = ({0: torch.export.Dim("batch", min=1, max=max(2, len(x)))},)
    try:  # a batch axis that stays symbolic: calibrated and scored a batch at a time
        _quantize(copy.deepcopy(module), example, dynamic, request, only=())
        per_call = None
    except Exception:  # one specialised to the example: a sample at a time
        example, dynamic, per_call = torch.zeros((1, *request.source.sample_shape)), None, 1
    leaves = [name for name, child in module.named_modules()
              if isinstance(child, _quantized_module_types()) and name not in request.fp32_modules]
    request = dataclasses.replace(request, calibration=None if request.calibration is None else request.calibration[:RANKING_CALIBRATION])
    ranking = []
    for name in leaves:
        quantized = _quantize(copy.deepcopy(module), example, dynamic, request, only=(name,))
        error = float(np.sum((reference - _logits(quantized, x, per_call)) ** 2))
        sqnr = float("inf") if error == 0 else 10 * np.log10(float(np.sum(reference ** 2)) / error)
        ranking.append({"module": name, "sqnr_db": round(float(sqnr), 2) if np.isfinite(sqnr) else None})
    return sorted(ranking, key=lambda row: float("inf") if row["sqnr_db"] is None else row["sqnr_db"])


def _within_budget(request: BuildRequest, notes: list[str]) -> tuple[bytes, dict[str, Any], list[int] | None, dict[str, Any]]:
    """The whole model lowered int8 with the fewest most-sensitive modules in fp32 that keep its
    accuracy on the selection data within `max_accuracy_drop` points of fp32."""
    import copy
    import dataclasses

    from mc.errors import CheckFailed
    from mc.metrics import classification_report
    from mc.runtimes import predict_all

    assert request.module is not None and request.max_accuracy_drop is not None
    data = request.selection or request.evaluation
    if data.y is None:
        raise InputError("--max-accuracy-drop needs labelled data to measure accuracy: pass --data with labels")
    pristine = copy.deepcopy(request.module).eval()
    reference = _logits(pristine, data.x)
    before = float(np.mean(reference.argmax(axis=1) == data.y))
    ranking: list[dict[str, Any]] | None = None  # ranked only when the whole model misses the budget
    tried: list[dict[str, Any]] = []
    count = 0
    while True:
        kept = tuple(row["module"] for row in (ranking or [])[:count])
        attempt = dataclasses.replace(request, fp32_modules=tuple(request.fp32_modules) + kept)
        buffer, report, batch = _lower_either(copy.deepcopy(pristine), attempt, notes)
        request.output.write_bytes(buffer)
        predictor = open_program(request.output, threads=None, max_batch=batch[1] if batch else None)
        if batch:
            predictor.max_batch = largest_batch(predictor, request.source.sample_shape, batch[1])
        outputs = predict_all(predictor, data.x)
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(data.x), -1)
        confidence = (np.asarray(outputs[1], dtype=np.float64).reshape(len(data.x), -1)[:, 0] if len(outputs) > 1
                      else np.full(len(data.x), 0.5))
        found = classification_report(logits, confidence, data.y, reference)
        drop = 100 * (before - float(found["accuracy"]))
        tried.append({"fp32_modules": list(kept), "accuracy_drop_points": round(drop, 3),
                      "top1_agreement": found.get("top1_agreement"), "confidence_auroc": found.get("confidence_auroc")})
        if drop <= request.max_accuracy_drop + 1e-9:
            return buffer, report, batch, {"selection": data.description, "max_accuracy_drop": request.max_accuracy_drop,
                                           "ranking": ranking, "tried": tried, "kept_fp32": list(kept)}
        if ranking is None:
            ranking = [row for row in rank_sensitive_modules(request, data.x[:RANKING_SAMPLES]) if row["sqnr_db"] is not None]
        count = next((step for step in FALLBACK_STEPS if count < step <= len(ranking)), None)  # type: ignore[assignment]
        if count is None:
            break
    raise CheckFailed(f"ExecuTorch int8 stays {tried[-1]['accuracy_drop_points']:.2f} points below fp32 with its "
                      f"{len(tried[-1]['fp32_modules'])} most sensitive modules in fp32 > --max-accuracy-drop "
                      f"{request.max_accuracy_drop}; nothing was written")


def tail_modules(module: "nn.Module") -> list[str]:
    """Linear and convolution modules too small to be layers (mc.quantization.output_tail): a weight
    of fewer than LAYER_WEIGHT_ELEMENTS elements, such as the confidence head's 1x1 scale. They stay
    fp32, as the output tail does under every other quantizer mc drives."""
    from mc.quantization.output_tail import LAYER_WEIGHT_ELEMENTS

    return [name for name, child in module.named_modules()
            if isinstance(child, _quantized_module_types()) and child.weight.numel() < LAYER_WEIGHT_ELEMENTS]


def build(request: BuildRequest) -> Built:
    assert request.module is not None
    if request.fp32_modules:
        _check_module_names(request.module, request.fp32_modules)
    if request.precision == "int8":
        tail = [name for name in tail_modules(request.module) if name not in request.fp32_modules]
        request = dataclasses.replace(request, fp32_modules=tuple(request.fp32_modules) + tuple(tail))
    notes: list[str] = []
    fallback = None
    if request.precision == "int8" and request.max_accuracy_drop is not None:
        buffer, report, batch, fallback = _within_budget(request, notes)
    else:
        buffer, report, batch = _lower_either(request.module, request, notes)
    request.output.write_bytes(buffer)
    fp32_modules = list(request.fp32_modules) + (fallback["kept_fp32"] if fallback else [])
    settings: dict[str, Any] = {
        "lowering": "torch.export -> to_edge_transform_and_lower (XnnpackPartitioner)",
        "transform_passes": [type(step).__name__ for step in transform_passes()],
        "dynamic_batch": batch,
        "delegation": report,
        "quantization": None if request.precision == "fp32" else {
            "flow": "PT2E (torchao.quantization.pt2e)", "quantizer": "XNNPACKQuantizer",
            "config": f"symmetric, per-channel weights, {request.int8_mode} activations",
            "calibration_samples": int(len(request.calibration)) if request.calibration is not None and request.int8_mode == "static" else 0,
            "fp32_modules": fp32_modules,
            "accuracy_control": fallback,
        },
        "costs": program_costs(request.module, request.source.sample_shape, request.precision, fp32_modules),
        "notes": list(dict.fromkeys(notes)),  # a note repeated by every try of a budget search, once
    }
    predictor = open_program(request.output, threads=None, max_batch=batch[1] if batch else None)
    if batch:
        usable = largest_batch(predictor, request.source.sample_shape, batch[1])
        if usable < batch[1]:
            notes.append(f"ExecuTorch planned memory for batches up to {usable} (exported up to {batch[1]}): larger batches are split")
        batch[1] = predictor.max_batch = usable
    return Built(predictor, settings)


def int8_modules(module: "nn.Module", fp32_modules: list[str]) -> list[str]:
    """The linear and convolution modules the XNNPACK quantizer quantizes (static and dynamic alike):
    every one outside the modules kept in fp32."""
    return [name for name, child in module.named_modules()
            if isinstance(child, _quantized_module_types())
            and not any(name == kept or name.startswith(kept + ".") for kept in fp32_modules)]


def program_costs(module: "nn.Module", sample_shape: tuple[int, ...], precision: str, fp32_modules: list[str]) -> dict[str, Any]:
    """What the program computes for one sample, by precision, for its fraction of peak: counted on the
    source module (a `.pte` keeps no shapes mc can read back), its quantized modules' FLOPs as int8."""
    from mc.runtimes.costs import module_costs

    costs, notes = module_costs(module, sample_shape, int8_modules(module, fp32_modules) if precision == "int8" else ())
    return {"flops_by_precision": {cost.precision: cost.flops for cost in costs},
            "bytes_by_precision": {cost.precision: cost.bytes for cost in costs},
            "notes": [*notes, "counted on the source module when the program was compiled"]}


def _available(precision: str, device: str) -> str | None:
    return missing(quantize=precision == "int8")


register_backend(CompileBackend(
    name="executorch", runtime=RUNTIME, suffix=".pte", kind="executorch-program", precisions=("fp32", "int8"),
    devices=("cpu",), extra=INSTALL, check_available=_available, build=build, artifact_kind="executorch",
    description="ExecuTorch with the XNNPACK delegate (int8: PT2E with the XNNPACK quantizer)",
    int8_modes=("static", "dynamic"), options=("fp32_modules", "max_accuracy_drop", "batch_one"),
))
