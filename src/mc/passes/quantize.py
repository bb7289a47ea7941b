"""The `quantize` pass: an ONNX model quantized by a plan of steps, published with what was
quantized (a per-op precision table) and what it cost (size, accuracy vs the fp32 parent)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mc.artifact import ArtifactRecord, Lineage, build_record, publish_artifact, read_record
from mc.atomic import staged_file
from mc.data.evaluation import EvaluationData
from mc.errors import InputError
from mc.models.source import OnnxModel
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.quantization.apply import apply_plan
from mc.quantization.evaluate import reference_outputs, score
from mc.quantization.precision import precision_table, summary_line
from mc.quantization.scheme import QuantizeConfig

MIN_CALIBRATION_SAMPLES = 16
FEW_CALIBRATION_SAMPLES = 128


@dataclass
class QuantizeOutcome:
    path: Path
    record: ArtifactRecord
    precision: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def check_calibration(samples: np.ndarray | None, config: QuantizeConfig) -> list[str]:
    if not config.needs_calibration:
        return []
    if samples is None:
        raise InputError("static quantization needs calibration data: pass --calibration PATH (.npz/.npy/folder)")
    if len(samples) < MIN_CALIBRATION_SAMPLES:
        raise InputError(f"{len(samples)} calibration samples are too few for static quantization; give at least "
                         f"{MIN_CALIBRATION_SAMPLES} (a few hundred is typical)")
    if len(samples) < FEW_CALIBRATION_SAMPLES:
        return [f"only {len(samples)} calibration samples: activation ranges may be unreliable (a few hundred is typical)"]
    return []


def _parent_model_info(model: OnnxModel) -> dict[str, Any]:
    record = read_record(model.path)
    info = dict(record.model) if record else {}
    info["input_shape"] = list(model.sample_shape)
    return info


def _compare(parent: Path, child: Path, evaluation: EvaluationData, threads: int) -> dict[str, Any]:
    reference = reference_outputs(parent, evaluation.x, evaluation.y, threads)
    return {"data": evaluation.description, "fp32": score(parent, reference, threads), "quantized": score(child, reference, threads)}


def _publish(model: OnnxModel, staged: Path, output: Path, pass_name: str, pass_config: dict, metrics: dict) -> ArtifactRecord:
    record = build_record(
        kind="onnx", file=staged, final_name=output.name, model=_parent_model_info(model),
        parent=Lineage(source=str(model.path), sha256=model.sha256),
        pass_name=pass_name, pass_config=pass_config, metrics=metrics,
    )
    publish_artifact(staged, output, record)
    return record


@register_pass(QuantizeConfig)
def run(
    config: QuantizeConfig, model: OnnxModel, output: Path, calibration: np.ndarray | None,
    evaluation: EvaluationData, threads: int, progress: Progress, extra_metrics: dict[str, Any] | None = None,
) -> QuantizeOutcome:
    warnings = check_calibration(calibration, config)
    fp16 = next((step for step in config.steps if step.kind == "fp16"), None)
    with progress.task("quantize", total=2) as task, staged_file(output) as staged:
        report = apply_plan(config, model.path, staged, calibration, model.input_names[0])
        table = precision_table(staged, report.modules, fp16=fp16 is not None, fp16_kept=fp16.keep_fp32_ops if fp16 else ())
        if not any(row["precision"] in ("int8", "fp16", "int8 weights, fp32 compute") for row in table["nodes"]):
            ops = {op for row in table["nodes"] for op in [row["op_type"]]}
            asked = sorted({op for step in config.steps for op in (getattr(step, "op_types", None) or ("all",))})
            raise InputError(
                f"nothing in {model.path} was quantized (asked for {', '.join(asked)}; its compute ops: "
                f"{', '.join(sorted(ops)) or 'none'}); pick --op-types from those, or use another mode"
            )
        task.advance(1, status="evaluating")
        comparison = _compare(model.path, staged, evaluation, threads)
        size = staged.stat().st_size
        metrics: dict[str, Any] = {
            "plan": config.label(),
            "precision": table,
            "precision_summary": summary_line(table),
            "preprocess": report.preprocess,
            "size": {"bytes": size, "fp32_bytes": model.path.stat().st_size, "ratio": size / model.path.stat().st_size},
            "accuracy": comparison,
            "warnings": warnings,
            **(extra_metrics or {}),
        }
        record = _publish(model, staged, output, QuantizeConfig.pass_name, config.model_dump(mode="json"), metrics)
        task.advance(1, status="done")
    return QuantizeOutcome(output, record, table, warnings)


def keep_float(model: OnnxModel, output: Path, evaluation: EvaluationData, threads: int, search_metrics: dict[str, Any]) -> QuantizeOutcome:
    """`--mode auto` found nothing worth it: the output is the fp32 model, and its sidecar says why."""
    with staged_file(output) as staged:
        shutil.copyfile(model.path, staged)
        comparison = _compare(model.path, staged, evaluation, threads)
        table = precision_table(staged, {})
        metrics = {"plan": "fp32 (kept)", "precision": table, "precision_summary": summary_line(table),
                   "size": {"bytes": staged.stat().st_size, "fp32_bytes": model.path.stat().st_size, "ratio": 1.0},
                   "accuracy": comparison, **search_metrics}
        record = _publish(model, staged, output, "quantize-auto", {"kept": "fp32"}, metrics)
    return QuantizeOutcome(output, record, table, [])
