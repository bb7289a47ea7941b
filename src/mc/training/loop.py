"""The training loop: task cross-entropy plus a metacognitive loss that teaches the confidence head
to predict whether the task head is right (binary cross-entropy against correctness).

The confidence head learns from two batches each step: the task batch and a harder copy of it
(`Augmentation` in mc.training.augment). Once the model fits its training set almost every training
answer is right, so a head taught only there learns "always confident"; on the harder copy the model
errs often enough for the head to learn what a doubtful input looks like. The head reads the logits
through a gradient stop, so this never bends what the task head learns.

Learning rate: linear warm-up, then cosine decay to zero (or constant). By default the final epoch is
kept: on MNIST-1D's 400-sample validation split, accuracy saturates and early stopping picked worse
epochs; `early_stopping` keeps the best epoch by validation loss or accuracy instead. Everything is
seeded; the test set is only touched after training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mc.data.mnist1d import LabelledSplit
from mc.progress import Progress
from mc.training.augment import HARD, Augmentation, shift

Schedule = Literal["cosine", "constant"]
EarlyStopping = Literal["none", "val_loss", "val_accuracy"]


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int
    confidence_weight: float
    label_smoothing: float
    max_shift: int
    seed: int
    schedule: Schedule = "cosine"
    warmup_epochs: int = 2
    early_stopping: EarlyStopping = "none"
    confidence_augmentation: Augmentation | None = HARD  # None: the head learns from the task batch alone


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    learning_rate: float


@dataclass
class LoopResult:
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    stopped_early: bool
    seconds: float
    history: list[EpochRecord] = field(default_factory=list)


LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def correctness_loss(logits: torch.Tensor, confidence: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE of the confidence against whether the answer is right."""
    correct = (logits.argmax(dim=-1) == y).float()
    return F.binary_cross_entropy(confidence.clamp(1e-6, 1 - 1e-6), correct)


def task_and_meta_loss(confidence_weight: float, label_smoothing: float = 0.0) -> LossFn:
    """Cross-entropy on the task plus BCE teaching the confidence head to predict correctness."""

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, confidence = model(x)
        task = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return task + confidence_weight * correctness_loss(logits, confidence, y), logits

    return loss


@contextmanager
def norm_statistics_frozen(model: nn.Module) -> Iterator[None]:
    """Batch-norm layers in eval mode (running statistics used, not updated); the rest as it was."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for norm in norms:
        norm.eval()
    try:
        yield
    finally:
        for norm in norms:
            norm.train()


def evaluate_loss(model: nn.Module, split: LabelledSplit, loss_fn: LossFn) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        loss, logits = loss_fn(model, x, y)
    return float(loss), float((logits.argmax(-1) == y).float().mean())


def learning_rate_factor(schedule: Schedule, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak rate at each optimizer step: linear warm-up, then cosine to zero or flat."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return factor


def _better(early_stopping: EarlyStopping, candidate: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """candidate and best are (val accuracy, val loss)."""
    if best is None:
        return True
    if early_stopping == "val_loss":
        return candidate[1] < best[1]
    return (candidate[0], -candidate[1]) > (best[0], -best[1])


def train_loop(
    model: nn.Module, train: LabelledSplit, val: LabelledSplit, settings: LoopSettings, progress: Progress,
    loss_fn: LossFn | None = None, description: str = "training",
) -> LoopResult:
    loss_fn = loss_fn or task_and_meta_loss(settings.confidence_weight, settings.label_smoothing)
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total_steps = settings.epochs * steps_per_epoch
    warmup = min(steps_per_epoch * settings.warmup_epochs, total_steps // 2)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor(settings.schedule, warmup, total_steps))
    x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
    hard = settings.confidence_augmentation if settings.confidence_weight > 0 else None
    best_state = None
    best: tuple[float, float] | None = None  # (val accuracy, val loss) of the kept epoch
    best_epoch, stale, history = 0, 0, []
    started = time.perf_counter()
    stopped_early = False
    with progress.task(description, total=settings.epochs) as task:
        for epoch in range(1, settings.epochs + 1):
            model.train()
            order = torch.randperm(len(train), generator=generator)
            running, seen = 0.0, 0
            for start in range(0, len(train), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                x, y = x_train[batch], y_train[batch]
                loss, _ = loss_fn(model, shift(x, settings.max_shift, generator), y)
                if hard is not None:  # the head only (gradient stop inside it): correctness on harder inputs
                    with norm_statistics_frozen(model):  # noisy copies must not shift what inference normalises by
                        hard_logits, hard_confidence = model(hard(x, generator))
                    loss = loss + settings.confidence_weight * correctness_loss(hard_logits, hard_confidence, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                running += loss.item() * len(batch)
                seen += len(batch)
            val_loss, val_accuracy = evaluate_loss(model, val, loss_fn)
            history.append(EpochRecord(epoch, running / seen, val_loss, val_accuracy, schedule.get_last_lr()[0]))
            if settings.early_stopping == "none":
                best, best_epoch = (val_accuracy, val_loss), epoch
            elif _better(settings.early_stopping, (val_accuracy, val_loss), best):
                best, best_epoch, stale = (val_accuracy, val_loss), epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            task.advance(1, status=f"loss {running / seen:.3f}  val acc {val_accuracy:.1%}"
                         + (f"  best {best[0]:.1%} (epoch {best_epoch})" if settings.early_stopping != "none" else ""))
            if settings.early_stopping != "none" and stale >= settings.patience:
                stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return LoopResult(best_epoch, best[0] if best else 0.0, len(history), stopped_early, time.perf_counter() - started, history)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
