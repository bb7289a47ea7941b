"""The training loop: task cross-entropy plus a metacognitive loss that teaches the confidence head
to predict whether the task head is right (binary cross-entropy against correctness).

Early stopping watches validation accuracy (ties broken by validation loss) and restores the best
weights. Everything is seeded; the test set is only touched after training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mc.data.mnist1d import LabelledSplit
from mc.progress import Progress


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


def task_and_meta_loss(confidence_weight: float, label_smoothing: float = 0.0) -> LossFn:
    """Cross-entropy on the task plus BCE teaching the confidence head to predict correctness."""

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, confidence = model(x)
        task = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        correct = (logits.argmax(dim=-1) == y).float()
        meta = F.binary_cross_entropy(confidence.clamp(1e-6, 1 - 1e-6), correct)
        return task + confidence_weight * meta, logits

    return loss


def _shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to `max_shift` steps with zero fill (the data's own nuisance)."""
    if max_shift <= 0:
        return x
    shifts = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), generator=generator)
    length = x.shape[-1]
    index = (torch.arange(length).unsqueeze(0) - shifts.unsqueeze(1))  # (batch, length)
    valid = (index >= 0) & (index < length)
    gathered = torch.gather(x, -1, index.clamp(0, length - 1).unsqueeze(1).expand_as(x))
    return gathered * valid.unsqueeze(1)


def evaluate_loss(model: nn.Module, split: LabelledSplit, loss_fn: LossFn) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        loss, logits = loss_fn(model, x, y)
    return float(loss), float((logits.argmax(-1) == y).float().mean())


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
    warmup = min(steps_per_epoch * 2, total_steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (step + 1) / max(1, warmup) if step < warmup
        else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup))),
    )
    x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
    best_state = copy.deepcopy(model.state_dict())
    best = (-1.0, math.inf)  # (val accuracy, -val loss) ordering
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
                x = _shift(x_train[batch], settings.max_shift, generator)
                loss, _ = loss_fn(model, x, y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                running += loss.item() * len(batch)
                seen += len(batch)
            val_loss, val_accuracy = evaluate_loss(model, val, loss_fn)
            history.append(EpochRecord(epoch, running / seen, val_loss, val_accuracy, schedule.get_last_lr()[0]))
            if (val_accuracy, -val_loss) > (best[0], -best[1]):
                best, best_epoch, stale = (val_accuracy, val_loss), epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            task.advance(1, status=f"loss {running / seen:.3f}  val acc {val_accuracy:.1%}  best {best[0]:.1%} (epoch {best_epoch})")
            if stale >= settings.patience:
                stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return LoopResult(best_epoch, best[0], len(history), stopped_early, time.perf_counter() - started, history)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
