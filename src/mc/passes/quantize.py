"""The `quantize` pass: int8 (static, dynamic) or fp16 over ONNX Runtime, a measured `auto` search,
or PyTorch-native dynamic int8 (`backend: torch`).

The config is the user's vocabulary (a mode, the target's preset, a few overrides, the budget of
the search); the pass turns it into an exact plan (`mc.quantization.scheme.QuantizePlan`) under
the target's preset, or searches for one, and publishes the result with what was quantized (a
per-op precision table) and what it cost (size; accuracy against fp32 for classifiers, embedding
cosine for text encoders). The search publishes its winner's own file: nothing is quantized twice.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from mc.artifact import Artifact, ArtifactRecord, Kind, Lineage, build_record, publish_artifact, read_record, sidecar_path
from mc.atomic import publish_directory, staged_directory, staged_file, write_json_atomic
from mc.errors import InputError
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig, spec_stem
from mc.passes._registry import register_pass
from mc.quantization.presets import static_preset_values
from mc.quantization.scheme import DynamicStep, Float16Step, QuantizePlan, StaticStep
from mc.targets import TargetProfile

MIN_CALIBRATION_SAMPLES = 16
FEW_CALIBRATION_SAMPLES = 128
IntType = Literal["int8", "uint8"]


class QuantizeConfig(PassConfig):
    """`mc quantize` options and a recipe's `quantize:` step; None means "the target's preset"."""

    pass_name: ClassVar[str] = "quantize"

    mode: Literal["dynamic", "static", "fp16", "auto"] | None = Field(
        None, description="[default: static for classifiers, dynamic for text models]")
    backend: Literal["onnxruntime", "torch"] = "onnxruntime"
    method: Literal["minmax", "entropy", "percentile"] | None = None
    format: Literal["qdq", "qoperator"] | None = None
    activation_type: IntType | None = None
    weight_type: IntType | None = None
    per_channel: bool | None = None
    reduce_range: bool | None = None
    op_types: tuple[str, ...] | None = None
    exclude_nodes: tuple[str, ...] = ()
    preprocess: bool = True
    calibration_samples: int = Field(256, ge=1, le=1_000_000)
    max_accuracy_drop: float = Field(0.5, ge=0, le=100, description="auto, classifiers: percentage points")
    min_agreement: float = Field(0.99, ge=0, le=1, description="auto, classifiers: top-1 agreement with fp32")
    max_auroc_drop: float = Field(0.01, ge=0, le=1, description="auto, classifiers: confidence AUROC drop")
    min_mean_cosine: float = Field(0.99, ge=0, le=1, description="auto, text models: mean cosine to fp32 embeddings")
    min_cosine: float = Field(0.98, ge=0, le=1, description="auto, text models: smallest cosine to fp32 on any text")
    max_length: int = Field(128, ge=8, le=4096, description="text models: tokens per text when measuring fidelity")
    objective: Literal["latency", "size", "accuracy"] = Field(
        "latency", description="auto: fastest (ties: smallest), smallest not slower than fp32, or most accurate and faster")

    @model_validator(mode="after")
    def _torch_is_dynamic(self) -> "QuantizeConfig":
        if self.backend == "torch" and self.mode not in (None, "dynamic"):
            raise ValueError(f"backend torch supports --mode dynamic only (got {self.mode}); use onnxruntime for {self.mode}")
        if self.exclude_nodes and (self.backend == "torch" or self.mode in ("fp16", "auto")):
            what = "backend torch" if self.backend == "torch" else f"mode {self.mode}"
            raise ValueError(f"--exclude-nodes works with modes static and dynamic in onnxruntime; {what} would ignore it")
        return self

    def accepts(self) -> tuple[Kind, ...]:
        return ("torch",) if self.backend == "torch" else ("onnx", "text-onnx")

    def mode_for(self, kind: Kind) -> str:
        return self.mode or ("dynamic" if kind in ("text-onnx", "torch") else "static")

    def reads(self, given: Kind):
        mode = self.mode_for(given)
        inputs = {"corpus"} if given == "text-onnx" else {"data"}
        if given != "torch":
            inputs.add("target")  # presets and threads
        if given == "onnx" and mode in ("static", "auto"):
            inputs.add("calibration")
        if mode == "auto":
            inputs.add("host")
        return frozenset(inputs)

    def chosen_by_timing(self) -> bool:
        return self.mode == "auto"

    def output_name(self, kind: Kind) -> str:
        return {"torch": "model.pt", "text-onnx": "model"}.get(kind, "model.onnx")

    def summary(self) -> str:
        mode = self.mode or "default"
        return "fp16" if mode == "fp16" else f"int8 {mode}" + (" (torch)" if self.backend == "torch" else "")

    def default_output(self, source: Artifact) -> Path | None:
        """Beside an ONNX input (m.onnx -> m.<mode>.onnx); under out/ for a model named by zoo name or checkpoint."""
        mode = self.mode_for(source.kind)
        if self.backend == "torch":
            return Path("out") / f"{spec_stem(source.spec)}.{mode}.pt"
        path = Path(source.spec)
        if source.kind == "text-onnx":
            directory = path.parent if path.suffix == ".onnx" else path
            return directory.with_name(f"{directory.name.removesuffix('.fp32')}.{mode}")
        if source.kind == "text-torch":
            return (path.with_name(f"{path.name}.{mode}") if path.is_dir() else Path("out") / f"{source.spec}.{mode}")
        if source.kind == "onnx":
            return path.with_name(f"{path.stem}.{mode}.onnx")
        return Path("out") / f"{spec_stem(source.spec)}.{mode}.onnx"

    def preset_overrides(self) -> dict[str, Any]:
        return dict(calibration_method=self.method, format=self.format, activation_type=self.activation_type,
                    weight_type=self.weight_type, per_channel=self.per_channel, reduce_range=self.reduce_range)

    def dynamic_step(self, target: TargetProfile, default_ops: tuple[str, ...]) -> DynamicStep:
        """Dynamic int8 under the target's preset (its weight type, per-channel and reduce_range)."""
        preset = target.quantization
        return DynamicStep(
            op_types=self.op_types or default_ops, exclude_nodes=self.exclude_nodes,
            weight_type=self.weight_type or preset.weight_type,
            per_channel=preset.per_channel if self.per_channel is None else self.per_channel,
            reduce_range=preset.reduce_range if self.reduce_range is None else self.reduce_range,
        )

    def plan(self, target: TargetProfile, kind: Kind) -> QuantizePlan:
        """The exact plan of a static, dynamic or fp16 config under `target`'s preset."""
        mode = self.mode_for(kind)
        if kind == "text-onnx":
            from mc.quantization.text_search import EMBEDDING_OPS

            if mode != "dynamic":
                raise InputError(f"mode {mode}: text models are quantized with mode dynamic or auto (no calibration set to trust)")
            step: StaticStep | DynamicStep | Float16Step = self.dynamic_step(target, EMBEDDING_OPS)
        elif mode == "static":
            step = StaticStep(**static_preset_values(target, **self.preset_overrides()), op_types=self.op_types,
                              exclude_nodes=self.exclude_nodes)
        elif mode == "dynamic":
            step = self.dynamic_step(target, ("MatMul", "Gemm"))
        elif mode == "fp16":
            step = Float16Step()
        else:
            raise ValueError("mode auto has no fixed plan: the pass searches for one")
        return QuantizePlan(steps=(step,), preprocess=self.preprocess, calibration_samples=max(16, self.calibration_samples))


@register_pass(QuantizeConfig)
def run(config: QuantizeConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    if source.kind == "torch":
        return _torch_dynamic(config, source, output, ctx)
    if source.kind == "text-onnx":
        return _text(config, source, output, ctx)
    return _classifier(config, source, output, ctx)


# --- ONNX classifiers ---------------------------------------------------------------------------


def check_calibration(samples: np.ndarray | None, needed: bool) -> list[str]:
    if not needed:
        return []
    if samples is None:
        raise InputError("static quantization needs calibration data: pass --calibration PATH (.npz/.npy/folder)")
    if len(samples) < MIN_CALIBRATION_SAMPLES:
        raise InputError(f"{len(samples)} calibration samples are too few for static quantization; give at least "
                         f"{MIN_CALIBRATION_SAMPLES} (a few hundred is typical)")
    if len(samples) < FEW_CALIBRATION_SAMPLES:
        return [f"only {len(samples)} calibration samples: activation ranges may be unreliable (a few hundred is typical)"]
    return []


def _classifier(config: QuantizeConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    from mc.quantization.apply import apply_plan

    model = ctx.onnx_model(source)
    model.require_float_input()
    mode = config.mode_for("onnx")
    calibration = ctx.calibration(model.sample_shape) if mode in ("static", "auto") else None
    samples = calibration[: config.calibration_samples] if calibration is not None else None
    evaluation = ctx.evaluation(model.sample_shape)
    with staged_file(output) as staged:
        if mode == "auto":
            plan, search_metrics = _search_classifier(config, model, samples, ctx, staged)
            warnings: list[str] = []
            modules: dict = {}
            preprocessed = None
        else:
            plan = config.plan(ctx.target, "onnx")
            warnings = check_calibration(calibration, plan.needs_calibration)
            with ctx.progress.task("quantize", total=1) as task:
                report = apply_plan(plan, model.path, staged, samples, model.input_names[0])
                task.advance(1)
            modules, preprocessed, search_metrics = report.modules, report.preprocess, {}
        record = _publish_classifier(plan, model, staged, output, evaluation, ctx.threads, modules, preprocessed,
                                     config, {"warnings": warnings, **search_metrics})
    return Artifact("onnx", str(output), record.sha256, output, record)


def _search_classifier(config: QuantizeConfig, model, samples: np.ndarray | None, ctx: PassContext,
                       staged: Path) -> tuple[QuantizePlan | None, dict[str, Any]]:
    """Search, then put the winner's own file (or fp32's) at `staged`; (its plan, the search's record)."""
    from mc.quantization.classifier_search import ClassifierBudget, ClassifierJudge, classifier_space
    from mc.quantization.search import search

    budget = ClassifierBudget(max_accuracy_drop=config.max_accuracy_drop, min_agreement=config.min_agreement,
                              max_auroc_drop=config.max_auroc_drop)
    preset = StaticStep(**static_preset_values(ctx.target, **config.preset_overrides()))
    chosen = ctx.selection(model.sample_shape)
    x, y, selection = chosen.x, chosen.y, chosen.description
    with tempfile.TemporaryDirectory(prefix="mc-auto-") as workdir:
        judge = ClassifierJudge(x, y, selection, budget, ctx.threads, model.path)
        space = classifier_space(preset, samples is not None, budget, x[:128], ctx.threads)
        result = search(model.path, space, judge, samples, model.input_names[0], ctx.progress, Path(workdir),
                        objective=config.objective, fan_out=ctx.fan_out)
        shutil.copyfile(result.best.path, staged)
    metrics = {"search": {"verdict": result.verdict, "selection_data": selection, "threads": ctx.threads,
                          "target": ctx.target.name, "budget": budget.model_dump(mode="json"),
                          "candidates": result.table(), **result.details}}
    return result.best.plan, metrics


def _publish_classifier(plan: QuantizePlan | None, model, staged: Path, output: Path, evaluation, threads: int,
                        modules: dict, preprocessed: str | None, config: QuantizeConfig, extra: dict[str, Any]) -> ArtifactRecord:
    from mc.quantization.evaluate import reference_outputs, score
    from mc.quantization.precision import precision_table, summary_line

    fp16 = next((step for step in plan.steps if step.kind == "fp16"), None) if plan else None
    table = precision_table(staged, modules, fp16=fp16 is not None, fp16_kept=fp16.keep_fp32_ops if fp16 else ())
    if plan is not None and not any(row["precision"] in ("int8", "fp16", "int8 weights, fp32 compute") for row in table["nodes"]):
        ops = {row["op_type"] for row in table["nodes"]}
        asked = sorted({op for step in plan.steps for op in (getattr(step, "op_types", None) or ("all",))})
        raise InputError(f"nothing in {model.path} was quantized (asked for {', '.join(asked)}; its compute ops: "
                         f"{', '.join(sorted(ops)) or 'none'}); pick --op-types from those, or use another mode")
    reference = reference_outputs(model.path, evaluation.x, evaluation.y, threads)
    from mc.onnx_file import model_bytes

    size, fp32_size = staged.stat().st_size, model_bytes(model.path)  # fp32 with its external data, if any
    metrics: dict[str, Any] = {
        "plan": plan.label() if plan else "fp32 (kept)",
        "plan_config": plan.model_dump(mode="json") if plan else None,
        "precision": table,
        "precision_summary": summary_line(table),
        "preprocess": preprocessed,
        "size": {"bytes": size, "fp32_bytes": fp32_size, "ratio": size / fp32_size},
        "accuracy": {"data": evaluation.description, "fp32": score(model.path, reference, threads),
                     "quantized": score(staged, reference, threads)},
        **extra,
    }
    parent_record = read_record(model.path)
    info = {**(dict(parent_record.model) if parent_record else {}), "input_shape": list(model.sample_shape)}
    record = build_record(kind="onnx", file=staged, final_name=output.name, model=info,
                          parent=Lineage(source=str(model.path), sha256=model.sha256), pass_name=QuantizeConfig.pass_name,
                          pass_config=config.model_dump(mode="json"), metrics=metrics)
    publish_artifact(staged, output, record)
    return record


# --- text encoders ------------------------------------------------------------------------------


def _text(config: QuantizeConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    from mc.quantization.apply import apply_plan
    from mc.quantization.text_search import FidelityBudget, describe, fidelity, fidelity_sets
    from mc.runtimes.text import open_text_artifact

    artifact = open_text_artifact(source.location)
    from mc.passes._text_output import check_text_output

    check_text_output(output, artifact.directory)
    tokenizer = artifact.load_tokenizer()
    corpus = ctx.corpus()
    budget = FidelityBudget(min_mean_cosine=config.min_mean_cosine, min_cosine=config.min_cosine)
    mode = config.mode_for("text-onnx")
    with staged_directory(output) as staged:
        model_path = staged / "model.onnx"
        search_metrics: dict[str, Any] = {}
        preprocessed = None
        if mode == "auto":
            plan, search_metrics = _search_text(config, artifact, tokenizer, corpus, budget, ctx, model_path)
        else:
            plan = config.plan(ctx.target, "text-onnx")
            with ctx.progress.task("quantize", total=1) as task:
                preprocessed = apply_plan(plan, artifact.model_path, model_path, None, "input_ids").preprocess
                task.advance(1)
        fp32_bytes = artifact.model_path.stat().st_size
        table, summary = describe(model_path, fp32_bytes)
        if plan is not None and not any(row["precision"] == "int8" for row in table["nodes"]) and not table["embedding_tables"]["int8"]:
            raise InputError(f"nothing in {artifact.model_path} was quantized (asked for {plan.label()}); pick other --op-types")
        memory, _, evaluation = fidelity_sets(tokenizer, corpus, config.max_length)
        with ctx.progress.task("fidelity on real text", total=1) as task:
            found = fidelity(artifact.model_path, model_path, evaluation, memory, ctx.threads)
            task.advance(1)
        found["data"] = f"{corpus.description}, {evaluation.count} texts (evaluation part), up to {config.max_length} tokens"
        size = model_path.stat().st_size
        metrics = {"plan": plan.label() if plan else "fp32 (kept)", "plan_config": plan.model_dump(mode="json") if plan else None,
                   "precision": table, "precision_summary": summary, "preprocess": preprocessed,
                   "size": {"bytes": size, "fp32_bytes": fp32_bytes, "ratio": size / fp32_bytes}, "fidelity": found,
                   "budget": budget.model_dump(mode="json"), **search_metrics}
        from mc.tokenizer_files import copy_tokenizer

        copy_tokenizer(artifact.directory, staged)
        parent_record = read_record(artifact.model_path)
        info = dict(parent_record.model) if parent_record else {"inputs": artifact.input_names, "outputs": artifact.output_names}
        record = build_record(kind="onnx-text", file=model_path, final_name="model.onnx", model=info,
                              parent=Lineage(source=str(artifact.model_path), sha256=artifact.sha256),
                              pass_name=QuantizeConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics)
        write_json_atomic(sidecar_path(model_path), record.to_json())
        publish_directory(staged, output)
    return Artifact("text-onnx", str(output), record.sha256, output, record)


def _search_text(config: QuantizeConfig, artifact, tokenizer, corpus, budget, ctx: PassContext,
                 model_path: Path) -> tuple[QuantizePlan | None, dict[str, Any]]:
    from mc.quantization.search import search
    from mc.quantization.text_search import EMBEDDING_OPS, EmbeddingJudge, TEXT_INPUT, TIMING_TOKENS, text_space

    base = config.dynamic_step(ctx.target, EMBEDDING_OPS)
    with tempfile.TemporaryDirectory(prefix="mc-text-auto-") as workdir:
        judge = EmbeddingJudge(artifact.model_path, tokenizer, corpus, budget, ctx.threads, config.max_length)
        result = search(artifact.model_path, text_space(base, config.per_channel is not None), judge, None, TEXT_INPUT,
                        ctx.progress, Path(workdir), objective=config.objective, fan_out=ctx.fan_out)
        shutil.copyfile(result.best.path, model_path)
    metrics = {"search": {"verdict": result.verdict, "selection_data": judge.selection, "threads": ctx.threads,
                          "target": ctx.target.name, "budget": budget.model_dump(mode="json"), "timing_tokens": TIMING_TOKENS,
                          "candidates": result.table(), **result.details}}
    return result.best.plan, metrics


# --- PyTorch dynamic int8 -----------------------------------------------------------------------


def _state_bytes(module) -> int:
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


def _torch_dynamic(config: QuantizeConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    """PyTorch dynamic int8 of Linear/LSTM/GRU, saved as a checkpoint that records the quantization,
    so it reloads (weights_only) as the same quantized model."""
    from mc.metrics import classification_report
    from mc.models.checkpoint import checkpoint_payload, save_checkpoint
    from mc.models.torch_dynamic import apply_torch_dynamic, quantized_module_counts
    from mc.runtimes import predict_all
    from mc.runtimes.torch_eager import TorchPredictor

    allowed = ("Linear", "LSTM", "GRU")
    op_types = config.op_types or allowed
    unknown = sorted(set(op_types) - set(allowed))
    if unknown:
        raise InputError(f"backend torch quantizes {', '.join(allowed)} modules; {', '.join(unknown)} is not one of them")
    model = ctx.torch_model(source)
    if "model" not in model.origin and "factory" not in model.origin:
        raise InputError(f"{model.description}: only zoo models, checkpoints and factories can be quantized in torch")
    evaluation = ctx.evaluation(model.sample_shape)
    with ctx.progress.task("quantize (torch dynamic)", total=2) as task:
        quantized = apply_torch_dynamic(model.module, tuple(op_types))
        counts = quantized_module_counts(quantized)
        if not counts:
            raise InputError(f"{model.display_name} has no {', '.join(op_types)} modules to quantize in torch")
        task.advance(1, status="evaluating")
        reference = predict_all(TorchPredictor(model.module), evaluation.x)
        candidate = predict_all(TorchPredictor(quantized), evaluation.x)
        metrics: dict[str, Any] = {
            "plan": f"torch dynamic int8 ({', '.join(op_types)})",
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
        origin = {**model.origin, "quantization": {"kind": "torch-dynamic", "op_types": list(op_types)}}
        with staged_file(output) as staged:
            save_checkpoint(checkpoint_payload(quantized, origin), staged)
            record = build_record(
                kind="torch-checkpoint", file=staged, final_name=output.name,
                model={**model.origin, "input_shape": list(model.sample_shape)},
                parent=Lineage(source=model.description, sha256=model.sha256),
                pass_name=QuantizeConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
            )
            publish_artifact(staged, output, record)
        task.advance(1, status="done")
    return Artifact("torch", str(output), record.sha256, output, record)
