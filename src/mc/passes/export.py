"""The `export` pass: torch -> ONNX through the dynamo exporter, verified before it is published.

Verification: `onnx.checker` with full shape inference, then numerical parity against torch on the
evaluation data at a batch size other than the one traced (a batch axis specialised to the example
would fail there), and at batch 1. Above the tolerance the export fails and nothing is written.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from mc.artifact import Artifact, ArtifactRecord, Kind, Lineage, build_record, publish_artifact
from mc.atomic import staged_file
from mc.data.evaluation import EvaluationData
from mc.errors import CheckFailed, InputError, root_cause
from mc.logs import quiet_torch_loggers
from mc.metrics import classification_report
from mc.models.source import TorchModel, check_forward
from mc.models.stats import count_macs, count_parameters
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.runtimes import predict_all
from mc.runtimes import open_onnx
from mc.runtimes.torch_eager import TorchPredictor

INPUT_NAME = "input"


class ExportConfig(PassConfig):
    """torch -> ONNX. A torch model goes through torch.onnx (dynamo); a Hugging Face directory
    through Optimum's exporter (its `task`); the text zoo model through torch.onnx with its memory
    as inputs. `exporter` picks explicitly; `auto` picks by what the model is."""

    pass_name: ClassVar[str] = "export"
    accepts_kinds: ClassVar[tuple[Kind, ...]] = ("torch", "text-torch")

    exporter: Literal["auto", "dynamo", "optimum"] = "auto"
    opset: int | None = Field(None, ge=14, le=23, description="ONNX opset [default: 18; Optimum's own for Hugging Face models]")
    tolerance: float = Field(1e-4, gt=0, description="largest allowed |torch - onnx| on any output")
    trace_batch: int = Field(2, ge=2, description="batch size of the traced example (>= 2 keeps the batch axis dynamic)")
    eval_batch: int = Field(256, ge=1, description="batch size of the parity run (differs from trace_batch on purpose)")
    task: str = Field("feature-extraction", description="Hugging Face models: the Optimum task to export for")
    max_length: int = Field(128, ge=8, le=4096, description="text models: tokens per text in the real-text parity check")

    def produces(self, given: Kind) -> Kind:
        return "text-onnx" if given == "text-torch" else "onnx"

    def reads(self, given: Kind):
        return frozenset({"corpus"} if given == "text-torch" else {"data"})

    def output_name(self, kind: Kind) -> str:
        return "model" if kind == "text-onnx" else "model.onnx"

    def refusal(self, given: Kind) -> str | None:
        if given in ("onnx", "text-onnx", "compiled", "executorch", "openvino"):
            return "it is already exported: quantize, compile, eval or bench it as it is"
        return super().refusal(given)

    def summary(self) -> str:
        return "ONNX fp32"

    @property
    def dynamo_opset(self) -> int:
        return self.opset or 18


def _output_names(count: int) -> list[str]:
    return ["logits", "confidence"] if count == 2 else [f"output_{index}" for index in range(count)]


def _export_to(model: TorchModel, example: torch.Tensor, names: list[str], opset: int, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), quiet_torch_loggers(), contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.module, (example,), str(path), dynamo=True, opset_version=opset,
                input_names=[INPUT_NAME], output_names=names, dynamic_shapes=({0: batch},),
                external_data=False, verbose=False,
            )
    except Exception as error:
        raise InputError(
            f"{model.display_name} cannot be exported to ONNX ({root_cause(error)}); "
            "rerun with --debug for the exporter's full report"
        ) from error


def tidy_exported_graph(path: Path) -> None:
    """Two fixes to what the dynamo exporter writes:
    - a Python stack trace per node: on small models a fifth of the file, and it leaks local source
      paths (the module name scopes, which name nodes in reports, stay);
    - value_info entries for initializers: redundant, and stale once a tool rewrites a weight in
      place (ONNX Runtime's quantize_dynamic transposes Gemm weights and then fails shape inference).
    """
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        kept = [prop for prop in node.metadata_props if not prop.key.endswith("stack_trace")]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    initializers = {initializer.name for initializer in model.graph.initializer}
    value_info = [value for value in model.graph.value_info if value.name not in initializers]
    del model.graph.value_info[:]
    model.graph.value_info.extend(value_info)
    onnx.save(model, str(path))


def _max_abs_differences(reference: list[np.ndarray], candidate: list[np.ndarray], names: list[str]) -> dict[str, float]:
    return {
        name: float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64)))) if ref.size else 0.0
        for name, ref, got in zip(names, reference, candidate)
    }


@register_pass(ExportConfig)
def run(config: ExportConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    exporter = config.exporter
    if exporter == "auto":
        exporter = "dynamo" if source.kind == "torch" else ("optimum" if source.path is not None else "dynamo")
    if source.kind == "text-torch":
        from mc.passes import _export_text as export_text

        record = export_text.export(config, exporter, source, output, ctx)
        return Artifact("text-onnx", str(output), record.sha256, output, record)
    if exporter == "optimum":
        raise InputError(f"{source.location}: the Optimum exporter takes a Hugging Face model directory; this is a torch model")
    model = ctx.torch_model(source)
    record = export_torch(config, model, output, ctx.evaluation(model.sample_shape), ctx.progress)
    return Artifact("onnx", str(output), record.sha256, output, record)


def export_torch(config: ExportConfig, model: TorchModel, output: Path, data: EvaluationData, progress: Progress) -> ArtifactRecord:
    """torch -> verified ONNX at `output` with its sidecar (also what other passes use to get ONNX)."""
    import onnx

    outputs = check_forward(model, batch=config.trace_batch)
    names = _output_names(len(outputs))
    example = torch.from_numpy(np.resize(data.x, (config.trace_batch, *data.x.shape[1:])).astype(np.float32))
    with progress.task("export", total=3) as task, staged_file(output) as staged:
        _export_to(model, example, names, config.dynamo_opset, staged)
        tidy_exported_graph(staged)
        task.advance(1, status="checking")
        try:
            onnx.checker.check_model(str(staged), full_check=True)
        except Exception as error:
            raise CheckFailed(f"the exported model fails the ONNX checker: {str(error).splitlines()[0][:200]}") from error
        task.advance(1, status="parity")

        onnx_predictor = open_onnx(staged, threads=None)
        torch_predictor = TorchPredictor(model.module)
        reference = predict_all(torch_predictor, data.x, config.eval_batch)
        candidate = predict_all(onnx_predictor, data.x, config.eval_batch)
        differences = _max_abs_differences(reference, candidate, names)
        single = _max_abs_differences(torch_predictor.predict(data.x[:1]), onnx_predictor.predict(data.x[:1]), names)
        worst = {name: max(differences[name], single[name]) for name in names}
        parity = {
            "max_abs_diff": worst,
            "tolerance": config.tolerance,
            "batch_sizes_checked": sorted({1, min(config.eval_batch, len(data.x))}),
            "samples": int(len(data.x)),
            "data": data.description,
            "passed": all(value <= config.tolerance for value in worst.values()),
        }
        if not parity["passed"]:
            name, value = max(worst.items(), key=lambda item: item[1])
            raise CheckFailed(
                f"parity check failed: max |torch - onnx| on {name!r} is {value:.3g} > tolerance {config.tolerance:g}; "
                "nothing was written (raise --tolerance only if that error is acceptable)"
            )

        metrics: dict[str, Any] = {"parity": parity}
        if data.y is not None and len(names) == 2:
            metrics["accuracy"] = {
                "data": data.description,
                "torch": classification_report(reference[0], reference[1], data.y),
                "onnx": classification_report(candidate[0], candidate[1], data.y, reference_logits=reference[0]),
            }
        task.advance(1, status="done")
        model_info = {
            **model.origin,
            "input_shape": list(model.sample_shape),
            "parameters": count_parameters(model.module),
            "macs": count_macs(model.module, model.sample_shape),
            "opset": config.dynamo_opset,
            "inputs": [INPUT_NAME],
            "outputs": names,
        }
        record = build_record(
            kind="onnx", file=staged, final_name=output.name, model=model_info,
            parent=Lineage(source=model.description, sha256=model.sha256),
            pass_name=ExportConfig.pass_name, pass_config=config.model_copy(update={"opset": config.dynamo_opset}).model_dump(),
            metrics=metrics,
        )
        publish_artifact(staged, output, record)
    return record
