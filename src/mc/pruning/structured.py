"""Structured pruning with Torch-Pruning's dependency graph: coupled channels (residual streams,
depthwise convolutions, attention heads) are removed together, so every layer physically shrinks.

The task head and the confidence head keep their outputs; their inputs shrink with the state.
Channel counts are rounded to a multiple that suits SIMD kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mc.errors import InputError


@dataclass(frozen=True)
class PruningHints:
    """What the pruner must be told about a model: attention layers and raw parameters."""

    num_heads: dict[nn.Module, int]
    unwrapped: list[tuple[nn.Parameter, int]]
    ignored: list[nn.Module]


def pruning_hints(model: nn.Module) -> PruningHints:
    """Read the hints off the model: any module with `num_heads` and query/key/value linears is an
    attention layer; raw parameters are pruned along their last (feature) axis; heads are kept."""
    num_heads: dict[nn.Module, int] = {}
    for module in model.modules():
        heads = getattr(module, "num_heads", None)
        if isinstance(heads, int):
            for name in ("query", "key", "value"):
                layer = getattr(module, name, None)
                if isinstance(layer, nn.Linear):
                    num_heads[layer] = heads
    owned = {id(p) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.RNNBase, nn.Embedding))
             for p in m.parameters(recurse=False)}
    unwrapped = [(parameter, parameter.dim() - 1) for parameter in model.parameters() if id(parameter) not in owned]
    # Outputs stay: the task head's classes and the confidence head's single probability.
    ignored = [model.task_head] if hasattr(model, "task_head") else []
    if hasattr(model, "confidence_head"):
        ignored += [m for m in model.confidence_head.modules() if isinstance(m, nn.Linear) and m.out_features == 1]
    return PruningHints(num_heads, unwrapped, ignored)


def importance(criterion: str):
    import torch_pruning as tp

    if criterion == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if criterion == "taylor":
        return tp.importance.GroupTaylorImportance()
    raise InputError(f"unknown importance criterion {criterion!r}: use magnitude or taylor")


def unsupported_layers(model: nn.Module) -> list[str]:
    """Layers Torch-Pruning cannot shrink: recurrent cells other than LSTM."""
    return [f"{name} ({type(module).__name__})" for name, module in model.named_modules() if isinstance(module, (nn.GRU, nn.RNN))]


def prunable_widths(model: nn.Module, hints: PruningHints) -> list[int]:
    """The output widths of the layers the pruner may shrink (the heads' outputs stay)."""
    ignored = {id(module) for module in hints.ignored}
    return sorted({module.out_features if isinstance(module, nn.Linear) else module.out_channels
                   for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv1d)) and id(module) not in ignored})


def nothing_removed(model: nn.Module, shapes_before: dict[str, tuple[int, ...]]) -> bool:
    return all(tuple(parameter.shape) == shapes_before.get(name) for name, parameter in model.named_parameters())


def build_pruner(model: nn.Module, sample_shape: tuple[int, ...], ratio: float, steps: int, criterion: str,
                 global_pruning: bool, round_to: int):
    import torch_pruning as tp

    blocked = unsupported_layers(model)
    if blocked:
        raise InputError(f"structured pruning cannot trace {', '.join(blocked)}: Torch-Pruning has no rule for that layer; "
                         "use --unstructured, or prune a model without it")
    hints = pruning_hints(model)
    widths = prunable_widths(model, hints)
    if widths and round_to >= max(widths):  # every layer would round back up to its own width
        raise InputError(f"--round-to {round_to} leaves nothing to prune: the widest prunable layer has {max(widths)} channels; "
                         f"pick a --round-to below {max(widths)}")
    model.eval()
    try:
        return tp.pruner.BasePruner(
            model, torch.randn(2, *sample_shape), importance=importance(criterion), pruning_ratio=ratio,
            iterative_steps=steps, global_pruning=global_pruning, round_to=round_to, ignored_layers=hints.ignored,
            num_heads=hints.num_heads, unwrapped_parameters=hints.unwrapped,
            output_transform=lambda outputs: sum(output.sum() for output in (outputs if isinstance(outputs, (tuple, list)) else (outputs,))),
        )
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"Torch-Pruning cannot trace this model ({type(error).__name__}: {message[:200]}); "
                         "try --unstructured") from error


def accumulate_taylor_gradients(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], loss_fn: Callable) -> None:
    """Taylor importance reads weight x gradient: fill the gradients from a few training batches."""
    model.zero_grad(set_to_none=True)
    model.train()
    for x, y in batches:
        loss, _ = loss_fn(model, x, y)
        loss.backward()
    model.eval()
