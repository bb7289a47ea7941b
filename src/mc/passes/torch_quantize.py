"""The `quantize-torch` pass: PyTorch dynamic int8 of Linear/LSTM/GRU, saved as a checkpoint
that records the quantization, so it reloads (weights_only) as the same quantized model."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict

from mc.artifact import ArtifactRecord, Lineage, build_record, publish_artifact
from mc.atomic import staged_file
from mc.data.evaluation import EvaluationData
from mc.errors import InputError
from mc.metrics import classification_report
from mc.models.checkpoint import checkpoint_payload
from mc.models.source import TorchModel
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.quantization.torch_dynamic import apply_torch_dynamic, quantized_module_counts
from mc.runtimes._predictor import predict_all
from mc.runtimes.torch_eager import TorchPredictor


class TorchDynamicQuantizeConfig(BaseModel):
    pass_name: ClassVar[str] = "quantize-torch"
    model_config = ConfigDict(extra="forbid", frozen=True)
    op_types: tuple[Literal["Linear", "LSTM", "GRU"], ...] = ("Linear", "LSTM", "GRU")


@dataclass
class TorchQuantizeOutcome:
    path: Path
    record: ArtifactRecord


def _state_bytes(module: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


@register_pass(TorchDynamicQuantizeConfig)
def run(config: TorchDynamicQuantizeConfig, model: TorchModel, output: Path, evaluation: EvaluationData, progress: Progress) -> TorchQuantizeOutcome:
    if "model" not in model.origin and "factory" not in model.origin:
        raise InputError(f"{model.description}: only zoo models, checkpoints and factories can be quantized in torch")
    with progress.task("quantize (torch dynamic)", total=2) as task:
        quantized = apply_torch_dynamic(model.module, config.op_types)
        counts = quantized_module_counts(quantized)
        if not counts:
            raise InputError(f"{model.display_name} has no {', '.join(config.op_types)} modules to quantize in torch")
        task.advance(1, status="evaluating")
        reference = predict_all(TorchPredictor(model.module), evaluation.x)
        candidate = predict_all(TorchPredictor(quantized), evaluation.x)
        metrics: dict[str, Any] = {
            "quantized_modules": counts,
            "size": {"state_bytes": _state_bytes(quantized), "fp32_state_bytes": _state_bytes(model.module)},
        }
        metrics["size"]["ratio"] = metrics["size"]["state_bytes"] / metrics["size"]["fp32_state_bytes"]
        if evaluation.y is not None and len(reference) == 2:
            metrics["accuracy"] = {
                "data": evaluation.description,
                "fp32": classification_report(reference[0], reference[1], evaluation.y),
                "quantized": classification_report(candidate[0], candidate[1], evaluation.y, reference_logits=reference[0]),
            }
        origin = {**model.origin, "quantization": {"kind": "torch-dynamic", "op_types": list(config.op_types)}}
        with staged_file(output) as staged:
            torch.save(checkpoint_payload(quantized, origin), staged)
            record = build_record(
                kind="torch-checkpoint", file=staged, final_name=output.name,
                model={**model.origin, "input_shape": list(model.sample_shape)},
                parent=Lineage(source=model.description, sha256=model.sha256),
                pass_name=TorchDynamicQuantizeConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
            )
            publish_artifact(staged, output, record)
        task.advance(1, status="done")
    return TorchQuantizeOutcome(output, record)
