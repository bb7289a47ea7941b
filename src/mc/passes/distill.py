"""The `distill` pass: a student learns from a teacher's softened answers and from its confidence.

Loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)
       + confidence weight * [BCE(student confidence, own correctness) + BCE(student confidence, teacher confidence)]
The second confidence term distils the teacher's metacognition, not only its answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch.nn import functional as F

from mc.artifact import Artifact, Lineage, build_record, publish_artifact
from mc.atomic import staged_file
from mc.data.mnist1d import INPUT_SHAPE, DatasetName, load_mnist1d
from mc.errors import InputError
from mc.evaluation import test_set_report
from mc.models import get_model_entry
from mc.models.checkpoint import checkpoint_payload, config_to_dict, save_checkpoint
from mc.models.source import TorchModel, check_forward
from mc.models.stats import count_macs, count_parameters
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig, spec_stem
from mc.passes._registry import register_pass
from mc.runtimes import predict_all
from mc.runtimes.torch_eager import TorchPredictor
from mc.training.loop import LoopSettings, train_loop
from mc.training.recalibrate import RecalibrationSettings, recalibrate_confidence


class DistillConfig(PassConfig):
    """Distil the source model (the teacher) into a student: a zoo name trained from scratch, a
    checkpoint, or the teacher's own family at a width multiplier."""

    pass_name: ClassVar[str] = "distill"

    student: str | None = Field(None, description="a zoo name (trained from scratch) or a checkpoint")
    width_mult: float | None = Field(None, description="the teacher's family at this width multiplier, in (0, 1)")
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.7, ge=0, le=1, description="weight of the teacher's soft targets against the labels")
    confidence_weight: float = Field(0.5, ge=0)
    epochs: int = Field(30, ge=1, le=10_000, description="the same budget `mc train` gives a model alone")
    early_stopping: Literal["none", "val_loss", "val_accuracy"] = Field("none", description="none keeps the final epoch")
    patience: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    max_shift: int = Field(2, ge=0)
    recalibrate: bool = Field(True, description="retrain the student's confidence head alone afterwards (training data, augmented)")
    data: DatasetName = Field("mnist1d", description="built-in data setting: mnist1d or mnist1d-hard")
    seed: int = 0

    @model_validator(mode="after")
    def _one_student(self) -> "DistillConfig":
        if (self.student is None) == (self.width_mult is None):
            raise ValueError("give exactly one of --student (a zoo name or checkpoint) and --width-mult")
        if self.width_mult is not None and not 0 < self.width_mult < 1:
            raise ValueError(f"width_mult {self.width_mult}: a student is narrower than its teacher, pick a value in (0, 1)")
        return self

    def named_inputs(self) -> dict[str, str]:
        if self.student and Path(self.student).is_file():
            from mc.hashing import sha256_file

            return {"student": sha256_file(Path(self.student))}
        return {}

    def default_output(self, source: Artifact) -> Path | None:
        if self.student is not None:
            name = spec_stem(self.student)
        else:
            name = f"{Path(source.spec).stem}-w{self.width_mult:g}"
        return Path("out") / f"{name}.distilled.pt"

    def trains(self) -> bool:
        return True

    def resources(self) -> dict[str, float]:
        return {"CPU": 2}  # teacher and student forward passes, torch's intra-op threads

    def summary(self) -> str:
        return f"distilled into {self.student or f'width x{self.width_mult}'}" + (", confidence recalibrated" if self.recalibrate else "")


def resolve_student(config: DistillConfig, teacher: TorchModel) -> TorchModel:
    """The student the config names, freshly initialised under the config's seed where it is new."""
    from mc.models.source import is_zoo_spec, load_torch_model, untrained_zoo_model

    torch.manual_seed(config.seed)
    if config.width_mult is not None:
        return scaled_student(teacher, config.width_mult)
    if is_zoo_spec(config.student):  # type: ignore[arg-type]
        return untrained_zoo_model(config.student)  # type: ignore[arg-type]
    return load_torch_model(config.student)  # type: ignore[arg-type]


def scaled_student(teacher: TorchModel, width_multiplier: float) -> TorchModel:
    """The teacher's family at a fraction of its width (heads kept dividing the width)."""
    if "model" not in teacher.origin or "pruned" in teacher.origin:
        raise InputError("--width-mult needs a zoo teacher (name or its checkpoint); give --student NAME instead")
    entry = get_model_entry(teacher.origin["model"])
    config = entry.config_from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in teacher.origin["config"].items()})
    if not hasattr(config, "width"):
        raise InputError(f"{entry.name} has no width to scale; give --student NAME instead")
    heads = getattr(config, "attention_heads", 1)
    width = max(heads, int(round(config.width * width_multiplier / heads)) * heads)
    scaled = dataclasses.replace(config, width=width)
    return TorchModel(entry.build(scaled).eval(), tuple(scaled.input_shape),
                      {"model": entry.name, "config": config_to_dict(scaled)}, f"{entry.name} x{width_multiplier} (width {width})", trained=False)


def _kd_loss(teacher: torch.nn.Module, config: DistillConfig):
    t = config.temperature

    def loss(student: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
        with torch.no_grad():
            teacher_logits, teacher_confidence = teacher(x)
        logits, confidence = student(x)
        soft = F.kl_div(F.log_softmax(logits / t, dim=-1), F.softmax(teacher_logits / t, dim=-1), reduction="batchmean") * t * t
        hard = F.cross_entropy(logits, y)
        correct = (logits.argmax(-1) == y).float()
        clamped = confidence.clamp(1e-6, 1 - 1e-6)
        meta = F.binary_cross_entropy(clamped, correct) + F.binary_cross_entropy(clamped, teacher_confidence.clamp(0, 1))
        return config.alpha * soft + (1 - config.alpha) * hard + config.confidence_weight * meta, logits

    return loss


@register_pass(DistillConfig)
def run(config: DistillConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    teacher = ctx.torch_model(source)
    student = resolve_student(config, teacher)
    progress = ctx.progress
    for role, model in (("teacher", teacher), ("student", student)):
        if tuple(model.sample_shape) != INPUT_SHAPE:
            raise InputError(f"the {role} {model.display_name} takes {model.sample_shape}; distillation runs on MNIST-1D {INPUT_SHAPE}")
    teacher_out, student_out = check_forward(teacher), check_forward(student)
    if len(teacher_out) != 2 or len(student_out) != 2 or teacher_out[0].shape != student_out[0].shape:
        raise InputError(f"the student's outputs {[tuple(o.shape) for o in student_out]} do not match the teacher's "
                         f"{[tuple(o.shape) for o in teacher_out]}: both must return (logits, confidence) over the same classes")
    teacher.module.eval()
    data = load_mnist1d(config.data)
    train, val = data.train_validation_split(0.1, config.seed)
    settings = LoopSettings(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate, weight_decay=0.01,
                            patience=config.patience, confidence_weight=config.confidence_weight, label_smoothing=0.0,
                            max_shift=config.max_shift, seed=config.seed, early_stopping=config.early_stopping)
    loop = train_loop(student.module, train, val, settings, progress, loss_fn=_kd_loss(teacher.module, config), description="distilling")
    recalibration = (recalibrate_confidence(student.module, train, RecalibrationSettings(seed=config.seed), progress)
                     if config.recalibrate else None)
    teacher_logits = predict_all(TorchPredictor(teacher.module), data.test.x)[0]
    metrics = {
        "teacher": {"parameters": count_parameters(teacher.module), "macs": count_macs(teacher.module, teacher.sample_shape),
                    "test": test_set_report(teacher.module, data=config.data)},
        "student": {"parameters": count_parameters(student.module), "macs": count_macs(student.module, student.sample_shape),
                    "test": test_set_report(student.module, teacher_logits, data=config.data)},
        "best_epoch": loop.best_epoch, "epochs_run": loop.epochs_run, "train_seconds": round(loop.seconds, 2),
        "history": [asdict(epoch) for epoch in loop.history],
        **({"recalibration": recalibration} if recalibration is not None else {}),
    }
    with staged_file(output) as staged:
        save_checkpoint(checkpoint_payload(student.module, student.origin), staged)
        record = build_record(
            kind="torch-checkpoint", file=staged, final_name=output.name,
            model={**student.origin, "input_shape": list(student.sample_shape), "parameters": metrics["student"]["parameters"]},
            parent=Lineage(source=f"teacher {teacher.description}", sha256=teacher.sha256),
            pass_name=DistillConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
        )
        publish_artifact(staged, output, record)
    return Artifact("torch", str(output), record.sha256, output, record)
