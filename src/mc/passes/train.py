"""The `train` pass: a model of the family (or a user factory) trained on MNIST-1D, written as a
checkpoint with its metadata: test accuracy, confidence AUROC, data hash, library versions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from mc.artifact import Artifact, Lineage, build_record, publish_artifact
from mc.atomic import staged_file
from mc.data.mnist1d import INPUT_SHAPE, DatasetName, load_mnist1d
from mc.errors import InputError
from mc.evaluation import test_set_report
from mc.metrics import classification_report
from mc.models.checkpoint import checkpoint_payload, save_checkpoint
from mc.models.source import TorchModel, check_forward
from mc.models.stats import count_macs, count_parameters
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig
from mc.passes._registry import register_pass
from mc.runtimes import predict_all
from mc.runtimes.torch_eager import TorchPredictor
from mc.training.augment import HARD
from mc.training.loop import LoopSettings, train_loop
from mc.training.recalibrate import RecalibrationSettings, recalibrate_confidence


class TrainConfig(PassConfig):
    """A zoo name trains from scratch (initialised under `seed`); a checkpoint is fine-tuned; a
    factory's model trains as it is built."""

    pass_name: ClassVar[str] = "train"

    epochs: int = Field(30, ge=1, le=10_000, description="epochs (early stopping, when asked for, may end sooner)")
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    schedule: Literal["cosine", "constant"] = Field("cosine", description="learning rate after the warm-up")
    warmup_epochs: int = Field(2, ge=0, description="linear learning-rate warm-up")
    early_stopping: Literal["none", "val_loss", "val_accuracy"] = Field(
        "none", description="none keeps the final epoch; otherwise the best epoch on this validation criterion")
    patience: int = Field(10, ge=1, description="with early stopping: epochs without validation improvement before stopping")
    hard_confidence: bool = Field(False, description="the confidence head also learns from harder (augmented) copies of each batch "
                                 "(off by default: it lifted mobile-small's AUROC but lowered mobile-tiny's and worsened ECE for both)")
    recalibrate: bool = Field(False, description="after training, retrain the confidence head alone on clean and augmented "
                              "training copies (as after pruning); measured to lift mobile-small/base AUROC and lower mobile-tiny's")
    confidence_weight: float = Field(0.5, ge=0, description="weight of the metacognitive (correctness) loss")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    max_shift: int = Field(2, ge=0, description="random translation augmentation, in steps")
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    data: DatasetName = Field("mnist1d", description="built-in data setting: mnist1d or mnist1d-hard")
    seed: int = 0

    def default_output(self, source: Artifact) -> Path | None:
        """A zoo model's checkpoint goes to the mc cache, where its zoo name finds it; others need -o."""
        from mc.models.source import is_zoo_spec
        from mc.paths import trained_checkpoint_path

        return trained_checkpoint_path(source.spec) if is_zoo_spec(source.spec) else None

    def trains(self) -> bool:
        return True

    def resources(self) -> dict[str, float]:
        return {"CPU": 2}  # torch's intra-op threads; more rarely pays on models this small

    def summary(self) -> str:
        return "trained"


def model_to_train(config: TrainConfig, source: Artifact, ctx: PassContext) -> TorchModel:
    from mc.models.source import is_zoo_spec, untrained_zoo_model

    torch.manual_seed(config.seed)  # zoo models are built (initialised) under the seed
    if is_zoo_spec(source.spec):
        return untrained_zoo_model(source.spec)
    return ctx.torch_model(source)


@register_pass(TrainConfig)
def run(config: TrainConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    model, progress = model_to_train(config, source, ctx), ctx.progress
    if tuple(model.sample_shape) != INPUT_SHAPE:
        raise InputError(
            f"{model.display_name} takes input {model.sample_shape}, the built-in MNIST-1D data is {INPUT_SHAPE}; "
            "train it on its own data outside mc, then bring it in as a factory or checkpoint"
        )
    outputs = check_forward(model)
    if len(outputs) != 2:
        raise InputError(f"{model.display_name} returns {len(outputs)} outputs; mc trains models that return (logits, confidence)")

    data = load_mnist1d(config.data)
    train_split, val_split = data.train_validation_split(config.val_fraction, config.seed)
    settings = LoopSettings(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, patience=config.patience, confidence_weight=config.confidence_weight,
        label_smoothing=config.label_smoothing, max_shift=config.max_shift, seed=config.seed,
        schedule=config.schedule, warmup_epochs=config.warmup_epochs, early_stopping=config.early_stopping,
        confidence_augmentation=HARD if config.hard_confidence else None,
    )
    loop = train_loop(model.module, train_split, val_split, settings, progress)
    recalibration = (recalibrate_confidence(model.module, train_split, RecalibrationSettings(seed=config.seed), progress)
                     if config.recalibrate else None)

    logits, confidence = predict_all(TorchPredictor(model.module), data.test.x)
    test = classification_report(logits, confidence, data.test.y)
    metrics: dict[str, Any] = {
        "test": test,
        **({"hard_test": test_set_report(model.module, data="mnist1d-hard")} if config.data == "mnist1d" else {}),
        "validation_accuracy": loop.best_val_accuracy,
        "best_epoch": loop.best_epoch,
        "epochs_run": loop.epochs_run,
        "stopped_early": loop.stopped_early,
        "train_seconds": round(loop.seconds, 2),
        "threads": torch.get_num_threads(),  # float reduction order, hence exact weights, depend on it
        "data": {"name": config.data, "sha256": data.sha256, "train": len(train_split), "validation": len(val_split), "test": len(data.test)},
        "history": [asdict(epoch) for epoch in loop.history],
        **({"recalibration": recalibration} if recalibration is not None else {}),
    }
    model_info = {
        **model.origin,
        "input_shape": list(model.sample_shape),
        "parameters": count_parameters(model.module),
        "macs": count_macs(model.module, model.sample_shape),
    }
    with staged_file(output) as staged:
        save_checkpoint(checkpoint_payload(model.module, model.origin), staged)
        record = build_record(
            kind="torch-checkpoint", file=staged, final_name=output.name, model=model_info,
            parent=Lineage(source=model.description, sha256=model.sha256),
            pass_name=TrainConfig.pass_name, pass_config=config.model_dump(), metrics=metrics,
        )
        publish_artifact(staged, output, record)
    return Artifact("torch", str(output), record.sha256, output, record)
