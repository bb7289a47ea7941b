"""The `prune` pass: structured (layers shrink, measured speed) or unstructured (sparsity, storage),
iterative with fine-tuning, saved as a checkpoint that reloads with no pruning library."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator

from mc.artifact import Artifact, Lineage, build_record, publish_artifact
from mc.atomic import staged_file
from mc.data.evaluation import evaluation_data
from mc.data.mnist1d import INPUT_SHAPE, DatasetName, load_mnist1d
from mc.errors import InputError
from mc.evaluation import test_set_report
from mc.models.checkpoint import checkpoint_payload, save_checkpoint
from mc.models.source import TorchModel
from mc.models.stats import count_macs, count_parameters
from mc.passes._context import PassContext
from mc.passes._contract import WHOLE_NODE, PassConfig, spec_stem
from mc.passes._registry import register_pass
from mc.progress import Progress, SilentProgress
from mc.pruning import structured, unstructured
from mc.training.loop import LoopSettings, task_and_meta_loss, train_loop
from mc.training.recalibrate import RecalibrationSettings, recalibrate_confidence


class PruneConfig(PassConfig):
    pass_name: ClassVar[str] = "prune"

    method: Literal["structured", "unstructured"] = "structured"
    amount: float | None = Field(None, gt=0, lt=1, description="share of channels (structured) or weights (unstructured) to remove")
    target_speedup: float | None = Field(None, gt=1, le=20, description="structured: prune until ORT latency improves this much")
    steps: int = Field(1, ge=1, le=50, description="iterative schedule: prune in this many steps, fine-tuning after each")
    finetune_epochs: int = Field(3, ge=0, le=1000)
    importance: Literal["magnitude", "taylor"] = "magnitude"
    global_pruning: bool = False
    round_to: int = Field(8, ge=1, description="channel counts rounded to a multiple of this")
    learning_rate: float = Field(3e-3, gt=0, description="fine-tuning peak rate (cosine decay); 1e-3 left mobile-small 50% 0.6 pt lower")
    recalibrate: bool = Field(True, description="retrain the confidence head alone afterwards (training data, augmented)")
    data: DatasetName = Field("mnist1d", description="built-in data setting to fine-tune and score on: mnist1d or mnist1d-hard")
    seed: int = 0

    @model_validator(mode="after")
    def _one_goal(self) -> "PruneConfig":
        if self.method == "unstructured" and self.target_speedup is not None:
            raise ValueError("unstructured sparsity makes no model faster; --target-speedup needs --structured")
        if (self.amount is None) == (self.target_speedup is None) and self.method == "structured":
            raise ValueError("give exactly one of --amount or --target-speedup")
        if self.method == "unstructured" and self.amount is None:
            raise ValueError("unstructured pruning needs --amount")
        return self

    def reads(self, given):
        return frozenset({"host"}) if self.target_speedup is not None else frozenset()

    def default_output(self, source: Artifact) -> Path | None:
        return Path("out") / f"{spec_stem(source.spec)}.pruned.pt"

    def trains(self) -> bool:
        return self.finetune_epochs > 0

    def chosen_by_timing(self) -> bool:
        return self.target_speedup is not None

    def resources(self) -> dict[str, float]:
        if self.chosen_by_timing():
            return dict(WHOLE_NODE)  # the amount is chosen by timing: nothing may share its cores
        return {"CPU": 2} if self.trains() else {"CPU": 1}

    def summary(self) -> str:
        goal = f"{self.amount:.0%}" if self.amount else f"to {self.target_speedup}x"
        return f"pruned {goal} ({self.method})" + (", confidence recalibrated" if self.recalibrate else "")


def _finetune(module, config: PruneConfig, progress: Progress, label: str) -> None:
    if config.finetune_epochs == 0:
        return
    train, val = load_mnist1d(config.data).train_validation_split(0.1, config.seed)
    settings = LoopSettings(epochs=config.finetune_epochs, batch_size=64, learning_rate=config.learning_rate, weight_decay=0.01,
                            patience=config.finetune_epochs, confidence_weight=0.5, label_smoothing=0.0, max_shift=2, seed=config.seed,
                            warmup_epochs=0)  # trained weights: no warm-up, cosine decay
    train_loop(module, train, val, settings, progress, description=label)


def _recalibrate(module, config: PruneConfig, progress: Progress) -> dict | None:
    if not config.recalibrate:
        return None
    train, _ = load_mnist1d(config.data).train_validation_split(0.1, config.seed)
    return recalibrate_confidence(module, train, RecalibrationSettings(seed=config.seed), progress)


def _onnx_latency_ratio(reference: Path, module: torch.nn.Module, sample_shape, workdir: Path, index: int) -> float:
    """Latency of the pruned model over the unpruned one, both in ORT fp32 on 1 thread, interleaved."""
    from mc.passes.export import ExportConfig, export_torch
    from mc.timing import onnx_latency_ms

    candidate = workdir / f"step{index}.onnx"
    model = TorchModel(module, sample_shape, {}, "pruning step")
    data = evaluation_data(sample_shape)
    export_torch(ExportConfig(), model, candidate, data, SilentProgress())
    times = onnx_latency_ms({"reference": reference, "candidate": candidate}, data.x[:1], threads=1, rounds=7, calls=40)
    return times["reference"] / times["candidate"]


def _structured(config: PruneConfig, model: TorchModel, progress: Progress) -> dict[str, Any]:
    module = model.module
    torch.manual_seed(config.seed)
    data = load_mnist1d(config.data)
    loss_fn = task_and_meta_loss(0.5)
    batches = [(torch.from_numpy(data.train.x[i : i + 64]), torch.from_numpy(data.train.y[i : i + 64])) for i in range(0, 512, 64)]
    details: dict[str, Any] = {}
    if config.amount is not None:
        pruner = structured.build_pruner(module, model.sample_shape, config.amount, config.steps, config.importance,
                                         config.global_pruning, config.round_to)
        shapes_before = {name: tuple(p.shape) for name, p in module.named_parameters()}
        for step in range(config.steps):
            if config.importance == "taylor":
                structured.accumulate_taylor_gradients(module, batches, loss_fn)
            pruner.step()
            if step == config.steps - 1 and structured.nothing_removed(module, shapes_before):  # before fine-tuning for nothing
                widths = structured.prunable_widths(module, structured.pruning_hints(module))
                raise InputError(
                    f"--amount {config.amount} with --round-to {config.round_to} removes nothing from {model.display_name} "
                    f"(its prunable layers are {widths[0]} to {widths[-1]} channels wide; Torch-Pruning skips a layer it "
                    "would empty): lower --amount or --round-to")
            _finetune(module, config, progress, f"fine-tune {step + 1}/{config.steps}")
        return details
    # --target-speedup: small steps, each measured, until the latency ratio is reached.
    from mc.passes.export import ExportConfig, export_torch

    steps = 18
    pruner = structured.build_pruner(module, model.sample_shape, 0.9, steps, config.importance, config.global_pruning, config.round_to)
    trace = []
    with tempfile.TemporaryDirectory(prefix="mc-prune-") as workdir:
        reference = Path(workdir) / "reference.onnx"
        export_torch(ExportConfig(), TorchModel(module, model.sample_shape, {}, "unpruned"), reference,
                     evaluation_data(model.sample_shape), SilentProgress())
        with progress.task("pruning to target speed-up", total=steps) as task:
            for step in range(steps):
                if config.importance == "taylor":
                    structured.accumulate_taylor_gradients(module, batches, loss_fn)
                pruner.step()
                ratio = _onnx_latency_ratio(reference, module, model.sample_shape, Path(workdir), step)
                trace.append({"step": step + 1, "parameters": count_parameters(module), "speedup": round(ratio, 3)})
                task.advance(1, status=f"{ratio:.2f}x")
                if ratio >= config.target_speedup:  # type: ignore[operator]
                    break
    details["speedup_trace"] = trace
    if trace[-1]["speedup"] < config.target_speedup:  # type: ignore[operator]
        details["warning"] = f"reached only {trace[-1]['speedup']:.2f}x at 90% pruning"
    _finetune(module, config, progress, "fine-tune")
    return details


@register_pass(PruneConfig)
def run(config: PruneConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    model, progress = ctx.torch_model(source), ctx.progress
    if "model" not in model.origin or "quantization" in model.origin:
        raise InputError(f"{model.description}: mc prunes float zoo models and their checkpoints (pruned ones included)")
    if tuple(model.sample_shape) != INPUT_SHAPE:
        raise InputError(f"{model.display_name} takes {model.sample_shape}; pruning fine-tunes on MNIST-1D {INPUT_SHAPE}")
    module = model.module
    before = {"parameters": count_parameters(module), "macs": count_macs(module, model.sample_shape),
              "test": test_set_report(module, data=config.data)}
    shapes_before = {name: tuple(p.shape) for name, p in module.named_parameters()}
    if config.method == "structured":
        details = _structured(config, model, progress)
        recalibration = _recalibrate(module, config, progress)
    else:
        targets = unstructured.apply_global_magnitude(module, config.amount)  # type: ignore[arg-type]
        _finetune(module, config, progress, "fine-tune (masks kept)")
        recalibration = _recalibrate(module, config, progress)  # masks still on: pruned head weights stay zero
        unstructured.make_permanent(targets)
        details = {"sparsity": unstructured.sparsity(module), "compressed_bytes": unstructured.compressed_bytes(module)}
    if recalibration is not None:
        details["recalibration"] = recalibration
    module.eval()
    after = {"parameters": count_parameters(module), "macs": count_macs(module, model.sample_shape),
             "test": test_set_report(module, data=config.data)}
    shrunk = {name: [list(shapes_before[name]), list(p.shape)] for name, p in module.named_parameters() if tuple(p.shape) != shapes_before.get(name)}
    metrics = {"before": before, "after": after, "layers_shrunk": shrunk, **details,
               "ratios": {"parameters": after["parameters"] / before["parameters"], "macs": after["macs"] / before["macs"]}}
    origin = {**model.origin, "pruned": {"method": config.method, "amount": config.amount, "target_speedup": config.target_speedup}}
    with staged_file(output) as staged:
        save_checkpoint(checkpoint_payload(module, origin), staged)
        record = build_record(
            kind="torch-checkpoint", file=staged, final_name=output.name,
            model={**origin, "input_shape": list(model.sample_shape), "parameters": after["parameters"], "macs": after["macs"]},
            parent=Lineage(source=model.description, sha256=model.sha256),
            pass_name=PruneConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
        )
        publish_artifact(staged, output, record)
    return Artifact("torch", str(output), record.sha256, output, record)
