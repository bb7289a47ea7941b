"""Apply a quantization plan to an ONNX file with ONNX Runtime's quantization tool."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mc.errors import InputError
from mc.quantization.scheme import DynamicStep, Float16Step, QuantizePlan, StaticStep

CALIBRATION_BATCH = 32


@dataclass
class ApplyReport:
    preprocess: str  # "full", "without symbolic shape inference" (the attention fallback), or "skipped"
    modules: dict[str, str] = field(default_factory=dict)  # node name -> torch module, after pre-processing


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ORT's quantizer logs advice per call ('Please consider to run pre-processing') and tracebacks of
    what it recovers from or re-raises; mc reports once, and a failure as one line."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """ORT's quantizer leaves files in the current directory (`<uuid>.data` external data from
    quantize_dynamic, `sym_shape_infer_temp.onnx` when symbolic shape inference fails): run it
    inside the temporary directory, so they go with it."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _reader(samples: np.ndarray, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        """Feeds calibration batches; the batch axis is dynamic, so batches of 32 are fine."""

        def __init__(self) -> None:
            self._batches = iter(
                [{input_name: samples[start : start + CALIBRATION_BATCH]} for start in range(0, len(samples), CALIBRATION_BATCH)]
            )

        def get_next(self):
            return next(self._batches, None)

    return Reader()


def preprocess(source: Path, target: Path) -> str:
    """ORT's quant_pre_process; symbolic shape inference fails on some attention blocks, so retry without it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(source).resolve(), Path(target).resolve()
    with _quiet(), _working_directory(str(target.parent)):  # its temp files land beside the target, not in the cwd
        try:
            quant_pre_process(str(source), str(target))
            return "full"
        except Exception:
            quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
            return "without symbolic shape inference"


def _int_type(name: str):
    from onnxruntime.quantization import QuantType

    return QuantType.QUInt8 if name == "uint8" else QuantType.QInt8


def output_tail_nodes(source: Path) -> list[str]:
    """The names of an ONNX file's output-tail nodes (mc.quantization.output_tail), which every plan
    leaves in float; ORT's dynamic quantizer turns a Gemm into `<name>_MatMul` + Add first, so a Gemm's
    name comes with that one too."""
    import onnx

    from mc.quantization.output_tail import output_tail

    model = onnx.load(str(source), load_external_data=False)
    sizes = {init.name: int(np.prod(init.dims)) for init in model.graph.initializer}
    producer = {output: node.name for node in model.graph.node for output in node.output}
    nodes = {node.name: node for node in model.graph.node}
    tail = output_tail(
        (producer.get(output.name) for output in model.graph.output),
        lambda name: (producer.get(value) for value in nodes[name].input if value not in sizes),
        lambda name: max((sizes.get(value, 0) for value in nodes[name].input), default=0),
    )
    return [alias for name in tail for alias in ((name, f"{name}_MatMul") if nodes[name].op_type == "Gemm" else (name,))]


def _static(step: StaticStep, source: Path, target: Path, calibration: np.ndarray, input_name: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
    extra = {"MatMulConstBOnly": step.matmul_const_b_only}
    if step.calibration_method == "percentile":
        extra["CalibPercentile"] = 99.99
    with _quiet():
        quantize_static(
            str(source), str(target), _reader(calibration, input_name),
            quant_format=QuantFormat.QDQ if step.format == "qdq" else QuantFormat.QOperator,
            op_types_to_quantize=list(step.op_types) if step.op_types else None,
            per_channel=step.per_channel, reduce_range=step.reduce_range,
            activation_type=_int_type(step.activation_type), weight_type=_int_type(step.weight_type),
            nodes_to_exclude=[*step.exclude_nodes, *output_tail_nodes(source)] or None,
            calibrate_method=methods[step.calibration_method], extra_options=extra,
        )


def _dynamic(step: DynamicStep, source: Path, target: Path) -> None:
    from onnxruntime.quantization import quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(source), str(target),
            op_types_to_quantize=list(step.op_types) if step.op_types else None,
            per_channel=step.per_channel, reduce_range=step.reduce_range,
            weight_type=_int_type(step.weight_type), nodes_to_exclude=[*step.exclude_nodes, *output_tail_nodes(source)] or None,
            extra_options={"MatMulConstBOnly": step.matmul_const_b_only},
        )


def convert_float16(step: Float16Step, source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(source))
    with _quiet():
        converted = convert_float_to_float16(
            model, keep_io_types=step.keep_io_types, op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(step.keep_fp32_ops)),
        )
    _drop_duplicate_nodes(converted)
    _sort_topologically(converted)
    onnx.checker.check_model(converted)
    onnx.save(converted, str(target))


def _sort_topologically(model) -> None:
    """The converter appends the Casts it inserts at the end of the node list; ONNX wants producers first."""
    available = {value.name for value in model.graph.input} | {init.name for init in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            raise InputError("the fp16 graph has a cycle or a dangling input; it cannot be ordered")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [node for node in pending if node not in ready]
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def _drop_duplicate_nodes(model) -> None:
    """ORT's fp16 converter inserts one Cast per consumer of a blocked tensor, all with the same name
    and output: identical nodes, so one is kept. Two different nodes writing one tensor stay an error."""
    writers: dict[str, bytes] = {}
    kept = []
    for node in model.graph.node:
        signature = node.SerializeToString()
        clashes = [writers.get(output) for output in node.output if output in writers]
        if clashes and all(existing == signature for existing in clashes):
            continue
        if clashes:
            raise InputError(f"the fp16 converter produced two different nodes writing {list(node.output)}; keep more ops in fp32")
        writers.update({output: signature for output in node.output})
        kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)


def check_node_names(config: QuantizePlan, known: set[str]) -> None:
    """ORT ignores a node name it does not find: a typo would keep nothing in fp32, silently."""
    import difflib

    for step in config.steps:
        unknown = [name for name in getattr(step, "exclude_nodes", ()) if name not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "`mc quantize MODEL --nodes` lists the node names"
            raise InputError(f"--exclude-nodes: the graph has no node named {unknown[0]!r} ({len(known)} nodes); {hint}")


def apply_plan(config: QuantizePlan, source: Path, target: Path, calibration: np.ndarray | None, input_name: str) -> ApplyReport:
    """Write `source` quantized by every step of `config` to `target` (intermediates in a temp dir)."""
    if config.needs_calibration and calibration is None:
        raise InputError("static quantization needs calibration data: pass --calibration PATH (.npz/.npy/folder)")
    source, target = Path(source).resolve(), Path(target).resolve()
    with tempfile.TemporaryDirectory(prefix="mc-quantize-") as workdir, _working_directory(workdir):
        current = Path(source)
        report = ApplyReport(preprocess="skipped")
        if config.preprocess and not any(step.kind == "fp16" for step in config.steps):
            preprocessed = Path(workdir) / "preprocessed.onnx"
            report.preprocess = preprocess(current, preprocessed)
            current = preprocessed
        import onnx

        from mc.quantization.precision import module_names

        original, prepared = onnx.load(str(source), load_external_data=False), onnx.load(str(current), load_external_data=False)
        report.modules = {**module_names(original), **module_names(prepared)}
        check_node_names(config, {node.name for node in original.graph.node} | {node.name for node in prepared.graph.node})
        for index, step in enumerate(config.steps):
            produced = Path(workdir) / f"step{index}.onnx"
            try:
                if isinstance(step, StaticStep):
                    _static(step, current, produced, calibration[: config.calibration_samples], input_name)  # type: ignore[index]
                elif isinstance(step, DynamicStep):
                    _dynamic(step, current, produced)
                else:
                    convert_float16(step, current, produced)
            except InputError:
                raise
            except Exception as error:
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise InputError(f"ONNX Runtime could not apply {step.label()}: {type(error).__name__}: {message[:200]}") from error
            current = produced
        Path(target).write_bytes(current.read_bytes())
    return report
