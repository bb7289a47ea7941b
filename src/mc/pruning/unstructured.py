"""Unstructured magnitude pruning made permanent. Zeros change no shape and no dense kernel's
speed, so its benefit is reported only as sparsity and compressed size, never as latency."""

from __future__ import annotations

import io
import zlib

import torch
from torch import nn
from torch.nn.utils import prune


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    keep = {id(model.task_head)} if hasattr(model, "task_head") else set()
    return [(module, "weight") for module in model.modules()
            if isinstance(module, (nn.Linear, nn.Conv1d)) and id(module) not in keep]


def apply_global_magnitude(model: nn.Module, amount: float) -> list[tuple[nn.Module, str]]:
    """Global L1 magnitude masks over every Linear/Conv weight but the task head (kept while fine-tuning)."""
    targets = prunable_weights(model)
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    return targets


def make_permanent(targets: list[tuple[nn.Module, str]]) -> None:
    for module, name in targets:
        prune.remove(module, name)


def sparsity(model: nn.Module) -> dict[str, float]:
    weights = [module.weight for module, _ in prunable_weights(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    every = sum(int((p == 0).sum()) for p in model.parameters())
    return {"pruned_weights": zeros / max(total, 1), "all_parameters": every / max(sum(p.numel() for p in model.parameters()), 1)}


def compressed_bytes(model: nn.Module) -> int:
    """zlib size of the serialized state dict: where zeros actually save bytes (storage, download)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return len(zlib.compress(buffer.getvalue(), level=9))
