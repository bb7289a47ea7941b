"""Confidence recovery after compression: a short recalibration of the confidence head alone.

Pruning and distillation change what the features mean to the head, and their fine-tuning teaches the
head only on the training set's own correctness, where almost every answer is right by the end: the
head comes out saying "sure" everywhere and its AUROC drops. This retrains the head only (every other
weight frozen, batch-norm statistics untouched) on training inputs, clean and augmented
(mc.training.augment.RECALIBRATION) so wrong answers occur, against whether the model answers them right.
Never the test set: the figures a report shows stay honest.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from mc.data.mnist1d import LabelledSplit
from mc.progress import Progress
from mc.training.augment import RECALIBRATION, Augmentation, shift
from mc.training.loop import correctness_loss


@dataclass(frozen=True)
class RecalibrationSettings:
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-2
    max_shift: int = 2
    augmentation: Augmentation = RECALIBRATION
    seed: int = 0


def confidence_head(model: nn.Module) -> nn.Module | None:
    """The module that computes the confidence, where the model names one (the family's `confidence_head`)."""
    head = getattr(model, "confidence_head", None)
    return head if isinstance(head, nn.Module) and any(True for _ in head.parameters()) else None


def recalibrate_confidence(model: nn.Module, train: LabelledSplit, settings: RecalibrationSettings,
                           progress: Progress, description: str = "recalibrating confidence") -> dict:
    """Train the confidence head only; returns what was done (for the artifact's metrics)."""
    head = confidence_head(model)
    if head is None:
        return {"done": False, "reason": "the model has no confidence_head module"}
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    trainable = {id(p) for p in head.parameters()}
    was_trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    optimizer = torch.optim.Adam(head.parameters(), lr=settings.learning_rate)
    steps = settings.epochs * math.ceil(len(train) / settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))
    x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
    model.eval()  # features, logits and batch-norm statistics fixed; only the head's weights move
    started, errors, seen = time.perf_counter(), 0, 0
    try:
        with progress.task(description, total=settings.epochs) as task:
            for _ in range(settings.epochs):
                order = torch.randperm(len(train), generator=generator)
                for start in range(0, len(train), settings.batch_size):
                    batch = order[start : start + settings.batch_size]
                    x, y = x_train[batch], y_train[batch]
                    x = torch.cat([shift(x, settings.max_shift, generator), settings.augmentation(x, generator)])
                    y = torch.cat([y, y])
                    logits, confidence = model(x)
                    loss = correctness_loss(logits, confidence, y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    errors += int((logits.argmax(-1) != y).sum())
                    seen += len(y)
                task.advance(1)
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(was_trainable[name])
        model.eval()
    return {"done": True, "epochs": settings.epochs, "samples": len(train), "augmented_error_rate": round(errors / max(1, seen), 4),
            "seconds": round(time.perf_counter() - started, 2)}
