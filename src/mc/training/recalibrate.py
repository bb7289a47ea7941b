"""Confidence recovery after compression: the confidence head alone, refitted to convergence.

Pruning and distillation change the answers the head judges, and their fine-tuning teaches the head
only on the training set's own correctness, where almost every answer is right by the end: the head
comes out saying "sure" everywhere. This refits the head only (every other weight frozen, batch-norm
statistics untouched) on training inputs, clean and augmented (mc.training.augment.RECALIBRATION) so
wrong answers occur, against whether the model answers them right: the body runs once over those
copies, the head's inputs are kept, and the head's few parameters are fitted on all of them at once
(L-BFGS on the correctness cross-entropy). Never the test set: the figures a report shows stay honest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mc.data.mnist1d import LabelledSplit
from mc.progress import Progress
from mc.training.augment import RECALIBRATION, Augmentation, shift


@dataclass(frozen=True)
class RecalibrationSettings:
    epochs: int = 3  # passes over the training set, each a clean (shifted) and an augmented copy
    max_shift: int = 2
    augmentation: Augmentation = RECALIBRATION
    max_iterations: int = 200  # L-BFGS iterations of the head's fit
    batch_size: int = 512  # of the body's forward passes while the head's inputs are collected
    seed: int = 0


def confidence_head(model: nn.Module) -> nn.Module | None:
    """The module that computes the confidence, where the model names one (the family's `confidence_head`)."""
    head = getattr(model, "confidence_head", None)
    return head if isinstance(head, nn.Module) and any(True for _ in head.parameters()) else None


def _head_inputs(model: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 batch_size: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """What the head reads for each input (captured as the model runs), and whether the model is right."""
    captured: list[tuple[torch.Tensor, ...]] = []
    hook = head.register_forward_hook(lambda module, args, output: captured.append(tuple(a.detach() for a in args)))
    correct = []
    try:
        with torch.no_grad():
            for start in range(0, len(y), batch_size):
                logits, _ = model(x[start : start + batch_size])
                correct.append((logits.argmax(-1) == y[start : start + batch_size]).float())
    finally:
        hook.remove()
    return tuple(torch.cat(parts) for parts in zip(*captured)), torch.cat(correct)


def recalibrate_confidence(model: nn.Module, train: LabelledSplit, settings: RecalibrationSettings,
                           progress: Progress, description: str = "recalibrating confidence") -> dict:
    """Refit the confidence head only; returns what was done (for the artifact's metrics)."""
    head = confidence_head(model)
    if head is None:
        return {"done": False, "reason": "the model has no confidence_head module"}
    generator = torch.Generator().manual_seed(settings.seed)
    x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
    model.eval()  # features, logits and batch-norm statistics fixed; only the head's weights move
    started = time.perf_counter()
    with progress.task(description, total=settings.epochs + 1) as task:
        inputs, targets = [], []
        for _ in range(settings.epochs):
            x = torch.cat([shift(x_train, settings.max_shift, generator), settings.augmentation(x_train, generator)])
            y = torch.cat([y_train, y_train])
            read, correct = _head_inputs(model, head, x, y, settings.batch_size)
            inputs.append(read)
            targets.append(correct)
            task.advance(1)
        read = tuple(torch.cat(parts) for parts in zip(*inputs))
        correct = torch.cat(targets)
        parameters = list(head.parameters())
        was_trainable = [p.requires_grad for p in parameters]
        for p in parameters:
            p.requires_grad_(True)
        optimizer = torch.optim.LBFGS(parameters, lr=1.0, max_iter=settings.max_iterations, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            value = F.binary_cross_entropy(head(*read).clamp(1e-6, 1 - 1e-6), correct)
            value.backward()
            return value

        try:
            optimizer.step(loss)
        finally:
            for p, trainable in zip(parameters, was_trainable):
                p.requires_grad_(trainable)
        task.advance(1)
    return {"done": True, "epochs": settings.epochs, "samples": len(train),
            "augmented_error_rate": round(float(1 - correct.mean()), 4), "seconds": round(time.perf_counter() - started, 2)}
